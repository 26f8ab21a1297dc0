//! Messaging's rules free of gRPC and SQL: what a letter's subject and text
//! may be (plain text, or HTML cut down to a safe subset), the limits of a
//! letter, and the cursors that page folders and the board.

use asurso_proto::messaging as pb;
use asurso_runtime::errors::ServiceError;
use time::OffsetDateTime;
use uuid::Uuid;

/// A subject, in characters.
pub const MAX_SUBJECT: usize = 200;
/// A letter's or announcement's text, in characters.
pub const MAX_TEXT: usize = 20_000;
/// Addresses (people and groups) in to, cc and bcc together.
pub const MAX_ADDRESSES: usize = 200;
/// People a letter reaches once its groups are resolved: a whole school.
pub const MAX_RECIPIENTS: usize = 5_000;
/// Files on one letter or announcement.
pub const MAX_ATTACHMENTS: usize = 10;
/// An announcement's title, in characters.
pub const MAX_TITLE: usize = 200;

/// How a text is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Html,
}

impl Format {
    /// Unspecified is plain text.
    pub fn of(value: i32) -> Result<Self, ServiceError> {
        match pb::TextFormat::try_from(value) {
            Ok(pb::TextFormat::Unspecified | pb::TextFormat::Plain) => Ok(Self::Plain),
            Ok(pb::TextFormat::Html) => Ok(Self::Html),
            Err(_) => Err(ServiceError::invalid("format", "is not a text format")),
        }
    }

    pub fn parse(stored: &str) -> Self {
        if stored == "html" {
            Self::Html
        } else {
            Self::Plain
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Html => "html",
        }
    }

    pub fn proto(self) -> i32 {
        match self {
            Self::Plain => pb::TextFormat::Plain.into(),
            Self::Html => pb::TextFormat::Html.into(),
        }
    }
}

/// A subject or title: trimmed, at most `max` characters, one line.
pub fn line(value: &str, field: &str, max: usize, required: bool) -> Result<String, ServiceError> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(ServiceError::invalid(field, "is required"));
    }
    if value.chars().count() > max {
        return Err(ServiceError::invalid(
            field,
            format!("is at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            field,
            "is one line without control characters",
        ));
    }
    Ok(value.to_owned())
}

/// A text as it is stored: plain text as written (line breaks and tabs
/// the only control characters), HTML cut down to paragraphs, emphasis,
/// lists, quotes and links that open outside (no scripts, styles, images,
/// forms or event handlers survive).
pub fn text(value: &str, format: Format, field: &str) -> Result<String, ServiceError> {
    if value.chars().count() > MAX_TEXT {
        return Err(ServiceError::invalid(
            field,
            format!("is at most {MAX_TEXT} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ServiceError::invalid(
            field,
            "holds control characters other than line breaks and tabs",
        ));
    }
    Ok(match format {
        Format::Plain => value.trim_end().to_owned(),
        Format::Html => sanitize(value),
    })
}

fn sanitize(html: &str) -> String {
    ammonia::Builder::empty()
        .add_tags([
            "p",
            "br",
            "b",
            "strong",
            "i",
            "em",
            "u",
            "s",
            "ul",
            "ol",
            "li",
            "blockquote",
            "a",
        ])
        .add_tag_attributes("a", ["href"])
        .add_url_schemes(["http", "https", "mailto"])
        .add_clean_content_tags(["script", "style"])
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(html)
        .to_string()
}

/// The first characters of a text, tags removed: what a folder shows.
pub fn preview(body: &str, format: Format) -> String {
    const LENGTH: usize = 160;
    let plain = match format {
        Format::Plain => body.to_owned(),
        // Every tag a word boundary: "<p>a</p><p>b</p>" reads "a b".
        Format::Html => ammonia::Builder::empty()
            .add_clean_content_tags(["script", "style"])
            .clean(&body.replace('<', " <"))
            .to_string(),
    };
    let words: Vec<&str> = plain.split_whitespace().collect();
    let joined = words.join(" ");
    let mut preview: String = joined.chars().take(LENGTH).collect();
    if joined.chars().count() > LENGTH {
        preview.push('…');
    }
    preview
}

/// Where a page of a folder ends: the last row's time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: OffsetDateTime,
    pub id: Uuid,
    /// Pinned rows come first on the board.
    pub pinned: bool,
}

impl Cursor {
    pub fn token(&self) -> String {
        format!(
            "{}.{}.{}",
            u8::from(self.pinned),
            self.at.unix_timestamp_nanos() / 1_000,
            self.id.simple()
        )
    }

    /// An empty token is the first page.
    pub fn parse(token: &str) -> Result<Option<Self>, ServiceError> {
        if token.is_empty() {
            return Ok(None);
        }
        let wrong = || ServiceError::invalid("page.page_token", "is not a token this list gave");
        let mut parts = token.splitn(3, '.');
        let (Some(pinned), Some(micros), Some(id)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(wrong());
        };
        let pinned = match pinned {
            "0" => false,
            "1" => true,
            _ => return Err(wrong()),
        };
        let micros: i128 = micros.parse().map_err(|_| wrong())?;
        let at = OffsetDateTime::from_unix_timestamp_nanos(micros.saturating_mul(1_000))
            .ok()
            .filter(|at| {
                (asurso_runtime::convert::EARLIEST_YEAR..=asurso_runtime::convert::LATEST_YEAR)
                    .contains(&at.year())
            })
            .ok_or_else(wrong)?;
        let id = Uuid::try_parse(id).map_err(|_| wrong())?;
        Ok(Some(Self { at, id, pinned }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_keeps_what_a_letter_needs_and_nothing_that_runs() {
        let clean = sanitize(
            "<p onclick=\"steal()\">Здравствуйте, <b>Мария</b>!</p>\
             <script>alert(1)</script><img src=x onerror=alert(1)>\
             <a href=\"javascript:alert(1)\">тут</a> <a href=\"https://school.example/\">сайт</a>\
             <style>p{}</style><iframe src=\"https://evil.example\"></iframe>",
        );
        assert!(
            clean.contains("<p>Здравствуйте, <b>Мария</b>!</p>"),
            "{clean}"
        );
        assert!(!clean.contains("script"), "{clean}");
        assert!(!clean.contains("alert"), "{clean}");
        assert!(!clean.contains("onclick"), "{clean}");
        assert!(!clean.contains("onerror"), "{clean}");
        assert!(!clean.contains("img"), "{clean}");
        assert!(!clean.contains("javascript"), "{clean}");
        assert!(!clean.contains("iframe"), "{clean}");
        assert!(
            clean.contains("href=\"https://school.example/\" rel=\"noopener noreferrer nofollow\""),
            "{clean}"
        );
    }

    #[test]
    fn plain_text_keeps_line_breaks_and_refuses_other_control_characters() {
        assert_eq!(
            text("строка 1\nстрока 2\n\n", Format::Plain, "text").ok(),
            Some("строка 1\nстрока 2".to_owned())
        );
        assert!(text("bell\u{7}", Format::Plain, "text").is_err());
        assert!(text(&"я".repeat(MAX_TEXT + 1), Format::Plain, "text").is_err());
        assert!(line("тема\nвторая", "subject", MAX_SUBJECT, true).is_err());
        assert!(line("  ", "subject", MAX_SUBJECT, true).is_err());
    }

    #[test]
    fn a_preview_is_the_texts_words_without_tags() {
        assert_eq!(
            preview(
                "<p>Родительское <b>собрание</b></p><p>в пятницу</p>",
                Format::Html
            ),
            "Родительское собрание в пятницу"
        );
        let long = preview(&"слово ".repeat(100), Format::Plain);
        assert!(long.ends_with('…'));
        assert_eq!(long.chars().count(), 161);
    }

    #[test]
    fn a_cursor_reads_back_what_it_wrote_and_refuses_anything_else() -> Result<(), ServiceError> {
        let cursor = Cursor {
            at: OffsetDateTime::from_unix_timestamp(1_760_000_000)
                .map_err(ServiceError::internal)?
                + time::Duration::microseconds(123_456),
            id: Uuid::now_v7(),
            pinned: true,
        };
        assert_eq!(Cursor::parse(&cursor.token())?, Some(cursor));
        assert_eq!(Cursor::parse("")?, None);
        let far = format!("0.-300000000000000000.{}", Uuid::nil().simple());
        for bad in [
            "x",
            "1.2",
            "2.1.abc",
            "0.99999999999999999999999999.x",
            far.as_str(),
        ] {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
        Ok(())
    }
}
