//! A person as a school registers them: parsed, not merely validated.

use time::{Date, Month};

use super::{
    error::FieldViolation,
    snils::{Snils, SnilsError},
};

pub const MAX_NAME: usize = 100;
pub const MAX_CONTACT: usize = 200;

/// Why text with a control character is refused. NUL cannot be stored at
/// all (PostgreSQL text refuses it: the insert failed as INTERNAL), and the
/// others have no place in a name or a contact and would travel on into
/// every export, event and screen.
pub const CONTROL_CHARACTER: &str = "holds a control character (such as NUL or a line break)";

/// Whether the text holds a control character (Unicode category Cc).
pub fn holds_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// A person's data, every field checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPerson {
    pub last_name: String,
    pub first_name: String,
    pub middle_name: String,
    pub birth_date: Date,
    pub snils: Option<Snils>,
    pub email: String,
    pub phone: String,
}

/// The raw fields, as they arrive.
#[derive(Debug, Default, Clone)]
pub struct PersonInput<'a> {
    pub last_name: &'a str,
    pub first_name: &'a str,
    pub middle_name: &'a str,
    pub birth_date: Option<(i32, i32, i32)>,
    pub snils: &'a str,
    pub email: &'a str,
    pub phone: &'a str,
}

impl NewPerson {
    /// Checks every field; reports every problem at once, each under
    /// `prefix` + field name (`person.snils`, `row 3: snils`).
    pub fn parse(
        input: &PersonInput<'_>,
        prefix: &str,
        today: Date,
    ) -> Result<Self, Vec<FieldViolation>> {
        let mut problems = Vec::new();
        let mut field = |name: &str, description: &str| {
            problems.push(FieldViolation::new(format!("{prefix}{name}"), description));
        };

        let last_name = name(input.last_name, true)
            .map_err(|e| field("last_name", e))
            .ok();
        let first_name = name(input.first_name, true)
            .map_err(|e| field("first_name", e))
            .ok();
        let middle_name = name(input.middle_name, false)
            .map_err(|e| field("middle_name", e))
            .ok();
        let birth_date = match input.birth_date {
            None => {
                field("birth_date", "is required");
                None
            }
            Some((year, month, day)) => match civil_date(year, month, day) {
                Some(date) if date > today => {
                    field("birth_date", "is in the future");
                    None
                }
                Some(date) if date.year() < 1900 => {
                    field("birth_date", "is before 1900");
                    None
                }
                Some(date) => Some(date),
                None => {
                    field("birth_date", "is not a calendar date");
                    None
                }
            },
        };
        let snils = if input.snils.trim().is_empty() {
            Some(None)
        } else {
            match Snils::parse(input.snils) {
                Ok(snils) => Some(Some(snils)),
                Err(error @ (SnilsError::Format | SnilsError::Checksum)) => {
                    field("snils", &error.to_string());
                    None
                }
            }
        };
        let email = input.email.trim();
        if holds_control(email) {
            field("contacts.email", CONTROL_CHARACTER);
        } else if email.len() > MAX_CONTACT || (!email.is_empty() && !looks_like_email(email)) {
            field("contacts.email", "is not an e-mail address");
        }
        let phone = input.phone.trim();
        if holds_control(phone) {
            field("contacts.phone", CONTROL_CHARACTER);
        } else if phone.len() > MAX_CONTACT || (!phone.is_empty() && !looks_like_phone(phone)) {
            field(
                "contacts.phone",
                "is not a phone number (digits, spaces, +, -, parentheses)",
            );
        }

        match (last_name, first_name, middle_name, birth_date, snils) {
            (
                Some(last_name),
                Some(first_name),
                Some(middle_name),
                Some(birth_date),
                Some(snils),
            ) if problems.is_empty() => Ok(Self {
                last_name,
                first_name,
                middle_name,
                birth_date,
                snils,
                email: email.to_owned(),
                phone: phone.to_owned(),
            }),
            _ => Err(problems),
        }
    }
}

fn name(text: &str, required: bool) -> Result<String, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return if required {
            Err("is required")
        } else {
            Ok(String::new())
        };
    }
    if holds_control(text) {
        return Err(CONTROL_CHARACTER);
    }
    if text.chars().count() > MAX_NAME {
        return Err("is longer than 100 characters");
    }
    if !text
        .chars()
        .all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '.'))
    {
        return Err("may hold only letters, spaces, hyphens, apostrophes and dots");
    }
    Ok(text.to_owned())
}

pub fn civil_date(year: i32, month: i32, day: i32) -> Option<Date> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()
}

/// `local@domain.tld`, no spaces or control characters.
pub fn looks_like_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !text.contains(char::is_whitespace)
                && !holds_control(text)
        }
        None => false,
    }
}

fn looks_like_phone(text: &str) -> bool {
    let digits = text.chars().filter(char::is_ascii_digit).count();
    (5..=15).contains(&digits)
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()".contains(c))
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn input() -> PersonInput<'static> {
        PersonInput {
            last_name: "Иванова",
            first_name: "Мария",
            middle_name: "Петровна",
            birth_date: Some((2014, 3, 8)),
            snils: "112-233-445 95",
            email: "maria@example.ru",
            phone: "+7 (846) 123-45-67",
        }
    }

    #[test]
    fn a_well_formed_person_parses() {
        let person = NewPerson::parse(&input(), "person.", date!(2026 - 11 - 22)).expect("valid");
        assert_eq!(person.first_name, "Мария");
        assert_eq!(person.birth_date, date!(2014 - 03 - 08));
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let bad = PersonInput {
            last_name: "",
            birth_date: Some((2030, 1, 1)),
            snils: "112-233-445 96",
            email: "nope",
            ..input()
        };
        let problems = NewPerson::parse(&bad, "row 3: ", date!(2026 - 11 - 22))
            .err()
            .unwrap_or_default();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "row 3: last_name",
                "row 3: birth_date",
                "row 3: snils",
                "row 3: contacts.email"
            ]
        );
    }

    #[test]
    fn control_characters_are_refused_in_every_text_field_by_name() {
        for (text, expected) in [
            ("a\0@b.c", "contacts.email"),
            ("a\u{1}b@example.ru", "contacts.email"),
            ("+7 900\0 000-00-00", "contacts.phone"),
            ("Ива\0нова", "last_name"),
            ("Мар\u{7f}ия", "first_name"),
            ("Петр\u{85}овна", "middle_name"),
        ] {
            let mut bad = input();
            match expected {
                "contacts.email" => bad.email = text,
                "contacts.phone" => bad.phone = text,
                "last_name" => bad.last_name = text,
                "first_name" => bad.first_name = text,
                _ => bad.middle_name = text,
            }
            let problems = NewPerson::parse(&bad, "person.", date!(2026 - 11 - 22))
                .err()
                .unwrap_or_default();
            assert_eq!(problems.len(), 1, "{text:?}: {problems:?}");
            assert_eq!(problems[0].field, format!("person.{expected}"));
            assert_eq!(problems[0].description, CONTROL_CHARACTER, "{text:?}");
        }
        // Spacing at the ends (a tab, a line break) is trimmed as before.
        let spaced = PersonInput {
            email: "\tmaria@example.ru\n",
            ..input()
        };
        let person = NewPerson::parse(&spaced, "person.", date!(2026 - 11 - 22));
        assert_eq!(
            person.map(|p| p.email).ok().as_deref(),
            Some("maria@example.ru")
        );
    }

    #[test]
    fn oversized_and_odd_names_are_refused() {
        let long = "а".repeat(101);
        let bad = PersonInput {
            first_name: &long,
            middle_name: "<script>",
            ..input()
        };
        let problems = NewPerson::parse(&bad, "", date!(2026 - 11 - 22))
            .err()
            .unwrap_or_default();
        assert_eq!(problems.len(), 2);
        assert!(problems[0].description.contains("100"));
    }
}
