//! What a notification is: its kind, the channels that carry it by
//! default, and the words it is told in (Russian, short enough for a
//! phone's lock screen).

use asurso_proto::notifications as pb;

/// What a person can hear about. Stored by [`Kind::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Mark,
    Homework,
    TermMark,
    Lesson,
    Absence,
    AbsenceNote,
    Mail,
    Announcement,
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Feed,
    Email,
    Push,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Mark,
        Kind::Homework,
        Kind::TermMark,
        Kind::Lesson,
        Kind::Absence,
        Kind::AbsenceNote,
        Kind::Mail,
        Kind::Announcement,
        Kind::System,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Mark => "mark",
            Kind::Homework => "homework",
            Kind::TermMark => "term_mark",
            Kind::Lesson => "lesson",
            Kind::Absence => "absence",
            Kind::AbsenceNote => "absence_note",
            Kind::Mail => "mail",
            Kind::Announcement => "announcement",
            Kind::System => "system",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// What reaches a person who chose nothing: marks, absences and changes
    /// to lessons to the feed and the phone; letters to the feed and
    /// e-mail; homework and announcements to the feed.
    pub fn default_channels(self) -> &'static [Channel] {
        match self {
            Kind::Mark | Kind::TermMark | Kind::Lesson | Kind::Absence | Kind::AbsenceNote => {
                &[Channel::Feed, Channel::Push]
            }
            Kind::Mail => &[Channel::Feed, Channel::Email],
            Kind::Homework | Kind::Announcement | Kind::System => &[Channel::Feed],
        }
    }

    pub fn to_proto(self) -> pb::Kind {
        match self {
            Kind::Mark => pb::Kind::Mark,
            Kind::Homework => pb::Kind::Homework,
            Kind::TermMark => pb::Kind::TermMark,
            Kind::Lesson => pb::Kind::Lesson,
            Kind::Absence => pb::Kind::Absence,
            Kind::AbsenceNote => pb::Kind::AbsenceNote,
            Kind::Mail => pb::Kind::Mail,
            Kind::Announcement => pb::Kind::Announcement,
            Kind::System => pb::Kind::System,
        }
    }

    pub fn from_proto(kind: pb::Kind) -> Option<Kind> {
        Kind::ALL.into_iter().find(|known| known.to_proto() == kind)
    }
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Feed, Channel::Email, Channel::Push];

    pub fn name(self) -> &'static str {
        match self {
            Channel::Feed => "feed",
            Channel::Email => "email",
            Channel::Push => "push",
        }
    }

    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL
            .into_iter()
            .find(|channel| channel.name() == name)
    }

    pub fn to_proto(self) -> pb::Channel {
        match self {
            Channel::Feed => pb::Channel::Feed,
            Channel::Email => pb::Channel::Email,
            Channel::Push => pb::Channel::Push,
        }
    }

    pub fn from_proto(channel: pb::Channel) -> Option<Channel> {
        Channel::ALL
            .into_iter()
            .find(|known| known.to_proto() == channel)
    }
}

/// The channels of `kind` for a person: their choice, else the default.
pub fn channels_of(kind: Kind, chosen: Option<&[String]>) -> Vec<Channel> {
    match chosen {
        Some(names) => names
            .iter()
            .filter_map(|name| Channel::parse(name))
            .collect(),
        None => kind.default_channels().to_vec(),
    }
}

/// The channels of `kind` among a person's stored choices (kind name →
/// channel names), else the default.
pub fn channels_among(kind: Kind, chosen: &[(String, Vec<String>)]) -> Vec<Channel> {
    let mine = chosen
        .iter()
        .find(|(name, _)| name == kind.name())
        .map(|(_, channels)| channels.as_slice());
    channels_of(kind, mine)
}

/// A notification about to be given to its recipients.
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: Kind,
    /// What the feed shows its reader.
    pub title: String,
    pub body: String,
    /// What an e-mail or push says where the region allows no details.
    pub plain_title: String,
    pub plain_body: String,
    pub link: String,
    pub student: Option<uuid::Uuid>,
    pub school: Option<uuid::Uuid>,
}

impl Draft {
    /// The words an e-mail or push carries under the region's policy.
    pub fn outside(&self, details_allowed: bool) -> (&str, &str) {
        if details_allowed {
            (&self.title, &self.body)
        } else {
            (&self.plain_title, &self.plain_body)
        }
    }
}

/// A mark's value as a diary writes it.
pub fn mark_text(kind: &str, grade: i32) -> String {
    match kind {
        "grade" => grade.to_string(),
        "pass" => "зачёт".to_owned(),
        "fail" => "незачёт".to_owned(),
        "debt" => "долг".to_owned(),
        "not_assessed" => "н/а".to_owned(),
        "exempt" => "освобождён".to_owned(),
        other => other.to_owned(),
    }
}

/// An absence as the journal writes it (the region names its codes; a
/// late code is the one that carries minutes).
pub fn absence_text(code: &str, minutes_late: i32) -> String {
    if code.is_empty() {
        "был на уроке".to_owned()
    } else if minutes_late > 0 {
        format!("опоздание на {minutes_late} мин ({code})")
    } else {
        format!("пропуск урока ({code})")
    }
}

/// A term mark's period in words.
pub fn period_text(period: &str, number: i32) -> String {
    match period {
        "term" => format!("за {number}-ю четверть"),
        "half_year" => format!("за {number}-е полугодие"),
        "year" => "годовая".to_owned(),
        "exam" => "экзаменационная".to_owned(),
        "final" => "итоговая".to_owned(),
        other => other.to_owned(),
    }
}

/// Where a plain e-mail or push sends its reader, with the words that say
/// nothing more than that something happened.
pub const LOOK_INSIDE: &str = "Откройте АСУ РСО, чтобы посмотреть.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name_and_proto() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.name()), Some(kind));
            assert_eq!(Kind::from_proto(kind.to_proto()), Some(kind));
            assert!(kind.default_channels().contains(&Channel::Feed));
        }
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.name()), Some(channel));
            assert_eq!(Channel::from_proto(channel.to_proto()), Some(channel));
        }
        assert_eq!(Kind::parse("marks"), None);
    }

    #[test]
    fn a_choice_replaces_the_defaults() {
        assert_eq!(
            channels_of(Kind::Mark, None),
            vec![Channel::Feed, Channel::Push]
        );
        assert_eq!(
            channels_of(Kind::Mark, Some(&["email".to_owned()])),
            vec![Channel::Email]
        );
        assert!(channels_of(Kind::Mail, Some(&[])).is_empty());
    }

    #[test]
    fn plain_words_hold_no_details() {
        let draft = Draft {
            kind: Kind::Mark,
            title: "Новая оценка".to_owned(),
            body: "Иванов Пётр: 5 по предмету «Математика»".to_owned(),
            plain_title: "Новая оценка".to_owned(),
            plain_body: LOOK_INSIDE.to_owned(),
            link: String::new(),
            student: None,
            school: None,
        };
        assert_eq!(draft.outside(false).1, LOOK_INSIDE);
        assert!(draft.outside(true).1.contains("Математика"));
    }
}
