//! IPv4 address ranges as the network's invariants need them: parsed from `a.b.c.d/n` in canonical form,
//! and compared (does one range hold an address or another range, do two overlap).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 range `a.b.c.d/n` whose host bits are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cidr {
    network: u32,
    prefix: u8,
}

/// Why a text is not a canonical IPv4 range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("{0:?} is not an IPv4 range: write it as a.b.c.d/n, n from 0 to 32")]
    Syntax(String),
    #[error(
        "{text:?} has host bits set: the range it means is {canonical}, write that (AWS refuses or rewrites it)"
    )]
    HostBits { text: String, canonical: Cidr },
}

impl Cidr {
    /// The range of one address (`/32`).
    pub fn host(address: Ipv4Addr) -> Cidr {
        Cidr {
            network: u32::from(address),
            prefix: 32,
        }
    }

    fn mask(self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    pub fn prefix(self) -> u8 {
        self.prefix
    }

    /// Whether the address lies in this range.
    pub fn contains_address(self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask() == self.network
    }

    /// Whether every address of `other` lies in this range.
    pub fn contains(self, other: Cidr) -> bool {
        other.prefix >= self.prefix && other.network & self.mask() == self.network
    }

    /// Whether the two ranges share an address (one then holds the other).
    pub fn overlaps(self, other: Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let syntax = || CidrError::Syntax(text.to_owned());
        let (address, prefix) = text.split_once('/').ok_or_else(syntax)?;
        let address: Ipv4Addr = address.parse().map_err(|_| syntax())?;
        // `u8::from_str` would take "+8"; a prefix is digits only.
        if prefix.is_empty() || prefix.len() > 2 || !prefix.chars().all(|c| c.is_ascii_digit()) {
            return Err(syntax());
        }
        let prefix: u8 = prefix.parse().map_err(|_| syntax())?;
        if prefix > 32 {
            return Err(syntax());
        }
        let cidr = Cidr {
            network: u32::from(address),
            prefix,
        };
        let canonical = Cidr {
            network: cidr.network & cidr.mask(),
            prefix,
        };
        if canonical != cidr {
            return Err(CidrError::HostBits {
                text: text.to_owned(),
                canonical,
            });
        }
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().expect("a valid range")
    }

    #[test]
    fn ranges_parse_only_in_canonical_form() {
        assert_eq!(cidr("10.100.0.0/16").to_string(), "10.100.0.0/16");
        assert_eq!(cidr("0.0.0.0/0").prefix(), 0);
        assert_eq!(cidr("10.1.2.3/32"), Cidr::host(Ipv4Addr::new(10, 1, 2, 3)));
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "10.0.0.0/+8",
            "x/8",
            "10.0.0.0/",
        ] {
            assert_eq!(
                bad.parse::<Cidr>(),
                Err(CidrError::Syntax(bad.into())),
                "{bad}"
            );
        }
        let error = "10.1.2.3/16".parse::<Cidr>().expect_err("host bits");
        assert!(error.to_string().contains("10.1.0.0/16"), "{error}");
    }

    #[test]
    fn containment_and_overlap() {
        let wide = cidr("10.100.0.0/16");
        assert!(wide.contains(cidr("10.100.20.0/24")));
        assert!(wide.contains(wide));
        assert!(!cidr("10.100.20.0/24").contains(wide));
        assert!(!wide.contains(cidr("10.101.0.0/24")));
        assert!(wide.overlaps(cidr("10.100.20.0/24")) && cidr("10.100.20.0/24").overlaps(wide));
        assert!(!wide.overlaps(cidr("10.101.0.0/16")));
        assert!(cidr("0.0.0.0/0").contains(wide));
        assert!(wide.contains_address(Ipv4Addr::new(10, 100, 255, 255)));
        assert!(!wide.contains_address(Ipv4Addr::new(10, 99, 255, 255)));
    }
}
