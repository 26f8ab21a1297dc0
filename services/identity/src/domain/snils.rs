//! SNILS, the individual insurance account number: personal data that
//! identifies a person across the state's systems. It is validated here,
//! shown in full only to admins of the person's school, and never printed.

use std::fmt;

/// A SNILS whose checksum is correct. Its `Debug` and `Display` are masked:
/// only [`Snils::expose`] gives the digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Snils([u8; 11]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnilsError {
    #[error("must be 11 digits, as 123-456-789 64 or 12345678964")]
    Format,
    #[error("the check number does not match the first nine digits")]
    Checksum,
}

impl Snils {
    /// Parses `123-456-789 64`, `12345678964` and spacing variants.
    pub fn parse(text: &str) -> Result<Self, SnilsError> {
        let mut digits = [0u8; 11];
        let mut count = 0;
        for character in text.trim().chars() {
            match character {
                '0'..='9' => {
                    if count == 11 {
                        return Err(SnilsError::Format);
                    }
                    digits[count] = character as u8 - b'0';
                    count += 1;
                }
                '-' | ' ' => {}
                _ => return Err(SnilsError::Format),
            }
        }
        if count != 11 {
            return Err(SnilsError::Format);
        }
        let number = digits[..9].iter().fold(0u32, |n, d| n * 10 + u32::from(*d));
        let given = u32::from(digits[9]) * 10 + u32::from(digits[10]);
        // Numbers up to 001-001-998 were issued before the checksum rule.
        if number > 1_001_998 && checksum(&digits) != given {
            return Err(SnilsError::Checksum);
        }
        Ok(Self(digits))
    }

    /// The canonical form, `123-456-789 64`: for storage (encrypted) and for
    /// those allowed to see it.
    pub fn expose(&self) -> String {
        let d: String = self
            .0
            .iter()
            .map(|digit| char::from(b'0' + digit))
            .collect();
        format!("{}-{}-{} {}", &d[0..3], &d[3..6], &d[6..9], &d[9..11])
    }

    /// What everyone else sees: `***-***-*** 64`.
    pub fn masked(&self) -> String {
        format!("***-***-*** {}{}", self.0[9], self.0[10])
    }
}

fn checksum(digits: &[u8; 11]) -> u32 {
    let sum: u32 = digits[..9]
        .iter()
        .zip((1..=9).rev())
        .map(|(digit, weight)| u32::from(*digit) * weight)
        .sum();
    match sum % 101 {
        100 => 0,
        rest => rest,
    }
}

impl fmt::Debug for Snils {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Snils({})", self.masked())
    }
}

impl fmt::Display for Snils {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_numbers_parse_in_any_spacing() {
        for text in [
            "112-233-445 95",
            "11223344595",
            "112 233 445 95",
            " 112-233-445-95 ",
        ] {
            assert_eq!(
                Snils::parse(text).map(|s| s.expose()),
                Ok("112-233-445 95".to_owned())
            );
        }
    }

    #[test]
    fn the_checksum_is_checked() {
        assert_eq!(Snils::parse("112-233-445 96"), Err(SnilsError::Checksum));
        // A sum of exactly 101 or 100 gives check number 00.
        assert_eq!(checksum(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 0);
        // Old numbers carry no checksum rule.
        assert!(Snils::parse("001-001-998 00").is_ok());
    }

    #[test]
    fn malformed_numbers_are_refused() {
        for text in [
            "",
            "123",
            "112-233-445 9",
            "112-233-445 955",
            "II2-233-445 95",
            "112_233_445_95",
        ] {
            assert_eq!(Snils::parse(text), Err(SnilsError::Format), "{text:?}");
        }
    }

    #[test]
    fn printing_never_shows_the_digits() {
        let snils = Snils::parse("112-233-445 95").expect("valid");
        assert_eq!(format!("{snils}"), "***-***-*** 95");
        assert_eq!(format!("{snils:?}"), "Snils(***-***-*** 95)");
    }
}
