//! The elliptic curves of GOST R 34.10-2012 with 256-bit keys and their
//! arithmetic: affine addition (kept as the plain reference the tests hold
//! the rest to), and scalar multiplication in Jacobian coordinates with
//! one inversion per result. Only public values pass through here
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

    /// `k · point`.
    pub fn multiply(&self, k: &BigUint, point: &Point) -> Point {
        self.multiply_sum(k, point, &BigUint::ZERO, &Point::Infinity)
    }

    /// `k1 · p1 + k2 · p2` in one pass over the bits (Shamir's trick), in
    /// Jacobian coordinates, so that only the result takes an inversion.
    pub fn multiply_sum(&self, k1: &BigUint, p1: &Point, k2: &BigUint, p2: &Point) -> Point {
        let (j1, j2) = (self.jacobian(p1), self.jacobian(p2));
        let both = self.add_jacobian(&j1, &j2);
        let mut result = Jacobian::INFINITY;
        for bit in (0..k1.bits().max(k2.bits())).rev() {
            result = self.double_jacobian(&result);
            let addend = match (k1.bit(bit), k2.bit(bit)) {
                (true, true) => &both,
                (true, false) => &j1,
                (false, true) => &j2,
                (false, false) => continue,
            };
            result = self.add_jacobian(&result, addend);
        }
        self.affine(&result)
    }

    fn mul(&self, left: &BigUint, right: &BigUint) -> BigUint {
        (left * right) % &self.p
    }

    fn jacobian(&self, point: &Point) -> Jacobian {
        match point {
            Point::Infinity => Jacobian::INFINITY,
            Point::At(x, y) => Jacobian {
                x: x.clone(),
                y: y.clone(),
                z: BigUint::from(1u8),
            },
        }
    }

    fn affine(&self, point: &Jacobian) -> Point {
        if point.z == BigUint::ZERO {
            return Point::Infinity;
        }
        let Some(inverse) = self.inverse(&point.z) else {
            return Point::Infinity;
        };
        let inverse_squared = self.mul(&inverse, &inverse);
        Point::At(
            self.mul(&point.x, &inverse_squared),
            self.mul(&point.y, &self.mul(&inverse_squared, &inverse)),
        )
    }

    /// `2P`, for a curve with any `a`.
    fn double_jacobian(&self, point: &Jacobian) -> Jacobian {
        if point.z == BigUint::ZERO || point.y == BigUint::ZERO {
            return Jacobian::INFINITY;
        }
        let y_squared = self.mul(&point.y, &point.y);
        let s = self.mul(&(BigUint::from(4u8) * &point.x), &y_squared);
        let z_squared = self.mul(&point.z, &point.z);
        let m = (BigUint::from(3u8) * self.mul(&point.x, &point.x)
            + self.mul(&self.a, &self.mul(&z_squared, &z_squared)))
            % &self.p;
        let x = self.sub(&self.mul(&m, &m), &((BigUint::from(2u8) * &s) % &self.p));
        let eight_y4 = (BigUint::from(8u8) * self.mul(&y_squared, &y_squared)) % &self.p;
        let y = self.sub(&self.mul(&m, &self.sub(&s, &x)), &eight_y4);
        let z = self.mul(&(BigUint::from(2u8) * &point.y), &point.z);
        Jacobian { x, y, z }
    }

    fn add_jacobian(&self, left: &Jacobian, right: &Jacobian) -> Jacobian {
        if left.z == BigUint::ZERO {
            return right.clone();
        }
        if right.z == BigUint::ZERO {
            return left.clone();
        }
        let z1_squared = self.mul(&left.z, &left.z);
        let z2_squared = self.mul(&right.z, &right.z);
        let u1 = self.mul(&left.x, &z2_squared);
        let u2 = self.mul(&right.x, &z1_squared);
        let s1 = self.mul(&left.y, &self.mul(&z2_squared, &right.z));
        let s2 = self.mul(&right.y, &self.mul(&z1_squared, &left.z));
        if u1 == u2 {
            return if s1 == s2 {
                self.double_jacobian(left)
            } else {
                Jacobian::INFINITY
            };
        }
        let h = self.sub(&u2, &u1);
        let r = self.sub(&s2, &s1);
        let h_squared = self.mul(&h, &h);
        let h_cubed = self.mul(&h_squared, &h);
        let u1_h_squared = self.mul(&u1, &h_squared);
        let x = self.sub(
            &self.sub(&self.mul(&r, &r), &h_cubed),
            &((BigUint::from(2u8) * &u1_h_squared) % &self.p),
        );
        let y = self.sub(
            &self.mul(&r, &self.sub(&u1_h_squared, &x)),
            &self.mul(&s1, &h_cubed),
        );
        let z = self.mul(&h, &self.mul(&left.z, &right.z));
        Jacobian { x, y, z }
    }
}

/// `(X, Y, Z)` standing for `(X / Z², Y / Z³)`; `Z = 0` is infinity.
#[derive(Debug, Clone)]
struct Jacobian {
    x: BigUint,
    y: BigUint,
    z: BigUint,
}

impl Jacobian {
    const INFINITY: Self = Self {
        x: BigUint::ZERO,
        y: BigUint::ZERO,
        z: BigUint::ZERO,
    };
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
            // The Jacobian ladder agrees with the affine formulas.
            let (k1, k2) = (BigUint::from(0xDEAD_BEEFu32), BigUint::from(12_345u32));
            let mut expected = Point::Infinity;
            for _ in 0..5 {
                expected = curve.add(&expected, &curve.base());
            }
            assert_eq!(curve.multiply(&BigUint::from(5u8), &curve.base()), expected);
            let sum = curve.multiply_sum(&k1, &curve.base(), &k2, &twice);
            let separately = curve.add(
                &curve.multiply(&k1, &curve.base()),
                &curve.multiply(&k2, &twice),
            );
            assert_eq!(sum, separately);
            assert_eq!(
                curve.multiply_sum(&curve.q, &curve.base(), &BigUint::ZERO, &twice),
                Point::Infinity
            );
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
