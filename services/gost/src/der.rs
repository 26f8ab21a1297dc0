//! Just enough DER to read a certificate's public key and a PKCS#8
//! private key: tag, length, contents. Anything else is skipped whole.

use crate::GostError;

pub const SEQUENCE: u8 = 0x30;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
/// `[0]`, the certificate's explicit version.
pub const CONTEXT_0: u8 = 0xA0;

/// A run of DER elements, read front to back.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The tag of the next element, if any.
    pub fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element: its tag and contents.
    pub fn next(&mut self, what: &'static str) -> Result<(u8, &'a [u8]), GostError> {
        let malformed = || GostError::Malformed(what);
        let (&tag, rest) = self.rest.split_first().ok_or_else(malformed)?;
        let (&first, rest) = rest.split_first().ok_or_else(malformed)?;
        let (length, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7F);
            if count == 0 || count > 4 || rest.len() < count {
                return Err(malformed());
            }
            let (bytes, rest) = rest.split_at(count);
            let length = bytes
                .iter()
                .fold(0usize, |length, byte| (length << 8) | usize::from(*byte));
            (length, rest)
        };
        if rest.len() < length {
            return Err(malformed());
        }
        let (contents, rest) = rest.split_at(length);
        self.rest = rest;
        Ok((tag, contents))
    }

    /// The next element, which must have `tag`.
    pub fn take(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], GostError> {
        match self.next(what)? {
            (found, contents) if found == tag => Ok(contents),
            _ => Err(GostError::Malformed(what)),
        }
    }
}
