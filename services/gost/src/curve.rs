//! The elliptic curves of GOST R 34.10-2012 with 256-bit keys and their
//! arithmetic in affine coordinates. Only public values pass through here
//! on the verifying side; the development provider's signing is plainly
//! not constant-time (see [`crate::PrivateKey`]).

use std::sync::LazyLock;

use num_bigint::BigUint;

/// A curve `y² = x³ + ax + b` over the prime field `p`, with the base
/// point `(x, y)` of prime order `q`.
#[derive(Debug)]
pub struct Curve {
    pub name: &'static str,
    pub p: BigUint,
    pub a: BigUint,
    pub b: BigUint,
    pub q: BigUint,
    pub x: BigUint,
    pub y: BigUint,
}

/// A point of a curve, or the point at infinity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Point {
    Infinity,
    At(BigUint, BigUint),
}

/// The parameter sets a 256-bit key may name, by their OID's contents
/// bytes. The tc26 names and the CryptoPro key-exchange names are aliases
/// of the three CryptoPro curves (R 1323565.1.024-2019).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamSet {
    CryptoProA,
    CryptoProB,
    CryptoProC,
}

impl ParamSet {
    pub fn from_oid(oid: &[u8]) -> Option<Self> {
        const CRYPTO_PRO: &[u8] = &[0x2A, 0x85, 0x03, 0x02, 0x02];
        const TC26_256: &[u8] = &[0x2A, 0x85, 0x03, 0x07, 0x01, 0x02, 0x01, 0x01];
        if let Some(rest) = oid.strip_prefix(CRYPTO_PRO) {
            return match rest {
                // 1.2.643.2.2.35.{1,2,3}: CryptoPro-A, -B, -C.
                [0x23, 0x01] => Some(Self::CryptoProA),
                [0x23, 0x02] => Some(Self::CryptoProB),
                [0x23, 0x03] => Some(Self::CryptoProC),
                // 1.2.643.2.2.36.{0,1}: CryptoPro-XchA (= A), -XchB (= C).
                [0x24, 0x00] => Some(Self::CryptoProA),
                [0x24, 0x01] => Some(Self::CryptoProC),
                _ => None,
            };
        }
        match oid.strip_prefix(TC26_256)? {
            // 1.2.643.7.1.2.1.1.{2,3,4}: tc26 paramSetB, C, D.
            [0x02] => Some(Self::CryptoProA),
            [0x03] => Some(Self::CryptoProB),
            [0x04] => Some(Self::CryptoProC),
            _ => None,
        }
    }

    /// The OID's contents bytes, as a certificate names the set.
    #[cfg(test)]
    pub fn oid(self) -> &'static [u8] {
        match self {
            Self::CryptoProA => &[0x2A, 0x85, 0x03, 0x02, 0x02, 0x23, 0x01],
            Self::CryptoProB => &[0x2A, 0x85, 0x03, 0x02, 0x02, 0x23, 0x02],
            Self::CryptoProC => &[0x2A, 0x85, 0x03, 0x02, 0x02, 0x23, 0x03],
        }
    }

    /// The curve's parameters, parsed once.
    pub fn curve(self) -> &'static Curve {
        static CURVES: LazyLock<[Curve; 3]> = LazyLock::new(|| {
            [
                ParamSet::CryptoProA,
                ParamSet::CryptoProB,
                ParamSet::CryptoProC,
            ]
            .map(ParamSet::parameters)
        });
        &CURVES[self as usize]
    }

    fn parameters(self) -> Curve {
        // RFC 4357, section 11.4; the same values in R 1323565.1.024-2019.
        let (name, p, a, b, q, x, y) = match self {
            Self::CryptoProA => (
                "CryptoPro-A",
                "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFD97",
                "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFD94",
                "A6",
                "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF6C611070995AD10045841B09B761B893",
                "1",
                "8D91E471E0989CDA27DF505A453F2B7635294F2DDF23E3B122ACC99C9E9F1E14",
            ),
            Self::CryptoProB => (
                "CryptoPro-B",
                "8000000000000000000000000000000000000000000000000000000000000C99",
                "8000000000000000000000000000000000000000000000000000000000000C96",
                "3E1AF419A269A5F866A7D3C25C3DF80AE979259373FF2B182F49D4CE7E1BBC8B",
                "800000000000000000000000000000015F700CFFF1A624E5E497161BCC8A198F",
                "1",
                "3FA8124359F96680B83D1C3EB2C070E5C545C9858D03ECFB744BF8D717717EFC",
            ),
            Self::CryptoProC => (
                "CryptoPro-C",
                "9B9F605F5A858107AB1EC85E6B41C8AACF846E86789051D37998F7B9022D759B",
                "9B9F605F5A858107AB1EC85E6B41C8AACF846E86789051D37998F7B9022D7598",
                "805A",
                "9B9F605F5A858107AB1EC85E6B41C8AA582CA3511EDDFB74F02F3A6598980BB9",
                "0",
                "41ECE55743711A8C3CBF3783CD08C0EE4D4DC440D4641A8F366E550DFDB3BB67",
            ),
        };
        let number = |hex: &str| BigUint::parse_bytes(hex.as_bytes(), 16).unwrap_or_default();
        Curve {
            name,
            p: number(p),
            a: number(a),
            b: number(b),
            q: number(q),
            x: number(x),
            y: number(y),
        }
    }
}

impl Curve {
    pub fn base(&self) -> Point {
        Point::At(self.x.clone(), self.y.clone())
    }

    /// Whether `(x, y)` satisfies the curve's equation within the field.
    pub fn contains(&self, x: &BigUint, y: &BigUint) -> bool {
        if x >= &self.p || y >= &self.p {
            return false;
        }
        let left = (y * y) % &self.p;
        let right = (x * x * x + &self.a * x + &self.b) % &self.p;
        left == right
    }

    fn sub(&self, left: &BigUint, right: &BigUint) -> BigUint {
        ((left % &self.p) + &self.p - (right % &self.p)) % &self.p
    }

    fn inverse(&self, value: &BigUint) -> Option<BigUint> {
        value.modinv(&self.p)
    }

    pub fn add(&self, left: &Point, right: &Point) -> Point {
        let (Point::At(x1, y1), Point::At(x2, y2)) = (left, right) else {
            return match left {
                Point::Infinity => right.clone(),
                Point::At(..) => left.clone(),
            };
        };
        let slope = if x1 == x2 {
            if (y1 + y2) % &self.p == BigUint::ZERO {
                return Point::Infinity;
            }
            // Doubling: (3x² + a) / 2y.
            let numerator = (BigUint::from(3u8) * x1 * x1 + &self.a) % &self.p;
            match self.inverse(&((BigUint::from(2u8) * y1) % &self.p)) {
                Some(inverse) => (numerator * inverse) % &self.p,
                None => return Point::Infinity,
            }
        } else {
            match self.inverse(&self.sub(x2, x1)) {
                Some(inverse) => (self.sub(y2, y1) * inverse) % &self.p,
                None => return Point::Infinity,
            }
        };
        let x3 = self.sub(&self.sub(&(&slope * &slope), x1), x2);
        let y3 = self.sub(&(&slope * self.sub(x1, &x3)), y1);
        Point::At(x3, y3)
    }

    /// `k · point`, double and add from the top bit.
    pub fn multiply(&self, k: &BigUint, point: &Point) -> Point {
        let mut result = Point::Infinity;
        for bit in (0..k.bits()).rev() {
            result = self.add(&result, &result);
            if k.bit(bit) {
                result = self.add(&result, point);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_base_point_is_on_its_curve_and_of_the_curves_order() {
        for set in [
            ParamSet::CryptoProA,
            ParamSet::CryptoProB,
            ParamSet::CryptoProC,
        ] {
            let curve = set.curve();
            assert!(curve.contains(&curve.x, &curve.y), "{}", curve.name);
            assert_eq!(
                curve.multiply(&curve.q, &curve.base()),
                Point::Infinity,
                "{}",
                curve.name
            );
            let twice = curve.add(&curve.base(), &curve.base());
            let Point::At(x, y) = &twice else {
                panic!("2G is a point on {}", curve.name)
            };
            assert!(curve.contains(x, y), "{}", curve.name);
            assert_eq!(curve.multiply(&BigUint::from(2u8), &curve.base()), twice);
            assert_eq!(ParamSet::from_oid(set.oid()), Some(set));
        }
    }

    #[test]
    fn the_tc26_and_key_exchange_names_are_the_cryptopro_curves() {
        let tc26 = |last: u8| [0x2A, 0x85, 0x03, 0x07, 0x01, 0x02, 0x01, 0x01, last];
        assert_eq!(ParamSet::from_oid(&tc26(2)), Some(ParamSet::CryptoProA));
        assert_eq!(ParamSet::from_oid(&tc26(3)), Some(ParamSet::CryptoProB));
        assert_eq!(ParamSet::from_oid(&tc26(4)), Some(ParamSet::CryptoProC));
        // paramSetA (a twisted Edwards curve) is not one of them.
        assert_eq!(ParamSet::from_oid(&tc26(1)), None);
        let exchange = |last: u8| [0x2A, 0x85, 0x03, 0x02, 0x02, 0x24, last];
        assert_eq!(ParamSet::from_oid(&exchange(0)), Some(ParamSet::CryptoProA));
        assert_eq!(ParamSet::from_oid(&exchange(1)), Some(ParamSet::CryptoProC));
        assert_eq!(ParamSet::from_oid(&[0x2A, 0x85, 0x03]), None);
    }
}
