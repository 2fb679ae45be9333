//! The kinds of variable in the table. Each reads its own values, so the aggregator's parser and the
//! infrastructure model's checks hold a value to the same rule and say the same thing when it is wrong.

use std::fmt::Display;
use std::path::PathBuf;
use std::str::FromStr;

use crate::Variable;

/// A value the aggregator would refuse, and what to give instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} is `{value}`: {expected}")]
pub struct Invalid {
    pub name: &'static str,
    pub value: String,
    pub expected: String,
}

/// When a variable must be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Always,
    /// Only when `SINK` is this sink.
    WithSink(Sink),
    /// Never: unset, it takes its default.
    Optional,
}

/// Where bundles go after they are archived (`SINK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// HTTPS POST to a NiFi ListenHTTP (or HandleHttpRequest) endpoint.
    Nifi,
    /// PutObject into an S3-compatible store (MinIO).
    Minio,
}

impl Sink {
    pub const ALL: [Sink; 2] = [Sink::Nifi, Sink::Minio];

    /// The value of `SINK` that selects it.
    pub fn as_str(self) -> &'static str {
        match self {
            Sink::Nifi => "nifi",
            Sink::Minio => "minio",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Sink::Nifi => "HTTPS POST to NiFi",
            Sink::Minio => "S3-compatible store",
        }
    }
}

/// The text of a value as the aggregator reads it: trimmed, and blank counts as unset.
pub fn given(value: &str) -> Option<&str> {
    Some(value.trim()).filter(|v| !v.is_empty())
}

/// What a required variable's value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A name (bucket, table, secret): any text.
    Name,
    /// An http(s) URL.
    Url,
}

/// A variable without a default.
#[derive(Debug, Clone, Copy)]
pub struct Required {
    pub name: &'static str,
    pub need: Need,
    pub shape: Shape,
    pub meaning: &'static str,
}

impl Required {
    /// The message for a variable that is needed and not set.
    pub fn missing(&self) -> String {
        format!("{} is not set: {}", self.name, self.meaning)
    }

    pub fn parse(&self, value: &str) -> Result<String, Invalid> {
        let url = value.starts_with("https://") || value.starts_with("http://");
        if self.shape == Shape::Url && !url {
            return Err(Invalid {
                name: self.name,
                value: value.into(),
                expected: "not a URL: give it as https://host[:port]/path".into(),
            });
        }
        Ok(value.into())
    }
}

/// Which sink bundles go to (`SINK`, required).
#[derive(Debug, Clone, Copy)]
pub struct SinkChoice {
    pub name: &'static str,
    pub meaning: &'static str,
}

impl SinkChoice {
    /// The message for `SINK` not set.
    pub fn missing(&self) -> String {
        format!(
            "{} is not set: {}, {}",
            self.name,
            self.meaning,
            self.accepts().unwrap_or_default()
        )
    }

    pub fn parse(&self, value: &str) -> Result<Sink, Invalid> {
        Sink::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| Invalid {
                name: self.name,
                value: value.into(),
                expected: format!(
                    "set it to {}",
                    Sink::ALL
                        .map(|s| format!("`{}` ({})", s.as_str(), s.what()))
                        .join(" or ")
                ),
            })
    }
}

/// Free text with a default.
#[derive(Debug, Clone, Copy)]
pub struct Text {
    pub name: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

/// What a number counts, for the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count or a level.
    Count,
    Bytes,
    /// Milliseconds or seconds: the name says which.
    Time,
}

impl Unit {
    /// `n` as the README shows it: bytes in KiB, MiB or GiB when they are a whole number of them.
    fn show(self, n: impl Display) -> String {
        let text = n.to_string();
        let Ok(bytes) = text.parse::<u64>() else {
            return text;
        };
        if self != Unit::Bytes || bytes == 0 {
            return text;
        }
        ["GiB", "MiB", "KiB"]
            .into_iter()
            .zip([30, 20, 10])
            .find(|(_, shift)| bytes % (1 << shift) == 0)
            .map_or(text, |(unit, shift)| format!("{} {unit}", bytes >> shift))
    }
}

/// A whole number with a default and inclusive bounds.
#[derive(Debug, Clone, Copy)]
pub struct Number<T> {
    pub name: &'static str,
    pub default: T,
    pub min: T,
    pub max: T,
    pub unit: Unit,
    pub meaning: &'static str,
}

impl<T: FromStr + PartialOrd + Copy + Display> Number<T> {
    pub fn parse(&self, value: &str) -> Result<T, Invalid> {
        match value.parse::<T>() {
            Ok(n) if n >= self.min && n <= self.max => Ok(n),
            _ => Err(Invalid {
                name: self.name,
                value: value.into(),
                expected: format!(
                    "give a whole number from {} to {} (default {})",
                    self.min, self.max, self.default
                ),
            }),
        }
    }
}

/// `true` or `false`, false by default.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub name: &'static str,
    pub meaning: &'static str,
}

impl Flag {
    pub fn parse(&self, value: &str) -> Result<bool, Invalid> {
        match value {
            "false" | "0" => Ok(false),
            "true" | "1" => Ok(true),
            _ => Err(Invalid {
                name: self.name,
                value: value.into(),
                expected: "give `true` or `false`".into(),
            }),
        }
    }
}

/// A directory, the system temp dir by default. That it exists can only be checked where the aggregator runs.
#[derive(Debug, Clone, Copy)]
pub struct Directory {
    pub name: &'static str,
    pub meaning: &'static str,
}

impl Directory {
    pub fn parse(&self, value: &str) -> PathBuf {
        PathBuf::from(value)
    }

    /// The message for a value that is not a directory where the aggregator runs.
    pub fn not_a_directory(&self, value: &str) -> Invalid {
        Invalid {
            name: self.name,
            value: value.into(),
            expected: format!(
                "not a directory: create it, or unset {} to use the temp dir",
                self.name
            ),
        }
    }
}

/// The two fields every kind has, as the trait's methods.
macro_rules! name_and_meaning {
    () => {
        fn name(&self) -> &'static str {
            self.name
        }
        fn meaning(&self) -> &'static str {
            self.meaning
        }
    };
}

impl Variable for Required {
    name_and_meaning!();
    fn need(&self) -> Need {
        self.need
    }
    fn default_value(&self) -> Option<String> {
        None
    }
    fn accepts(&self) -> Option<String> {
        (self.shape == Shape::Url).then(|| "an http(s) URL".into())
    }
    fn check(&self, value: &str) -> Result<(), Invalid> {
        match given(value) {
            Some(v) => self.parse(v).map(drop),
            None => Err(Invalid {
                name: self.name,
                value: value.into(),
                expected: format!("blank, as if not set: give {}", self.meaning),
            }),
        }
    }
}

impl Variable for SinkChoice {
    name_and_meaning!();
    fn need(&self) -> Need {
        Need::Always
    }
    fn default_value(&self) -> Option<String> {
        None
    }
    fn accepts(&self) -> Option<String> {
        Some(Sink::ALL.map(|s| format!("`{}`", s.as_str())).join(" or "))
    }
    fn check(&self, value: &str) -> Result<(), Invalid> {
        self.parse(value.trim()).map(drop)
    }
}

impl Variable for Text {
    name_and_meaning!();
    fn default_value(&self) -> Option<String> {
        Some(self.default.into())
    }
    fn check(&self, _: &str) -> Result<(), Invalid> {
        Ok(())
    }
}

impl<T: FromStr + PartialOrd + Copy + Display + Send + Sync> Variable for Number<T> {
    name_and_meaning!();
    fn default_value(&self) -> Option<String> {
        Some(self.default.to_string())
    }
    fn default_text(&self) -> Option<String> {
        Some(self.unit.show(self.default))
    }
    fn accepts(&self) -> Option<String> {
        Some(format!(
            "{} to {}",
            self.unit.show(self.min),
            self.unit.show(self.max)
        ))
    }
    fn check(&self, value: &str) -> Result<(), Invalid> {
        given(value).map_or(Ok(()), |v| self.parse(v).map(drop))
    }
}

impl Variable for Flag {
    name_and_meaning!();
    fn default_value(&self) -> Option<String> {
        Some("false".into())
    }
    fn accepts(&self) -> Option<String> {
        Some("`true` or `false`".into())
    }
    fn check(&self, value: &str) -> Result<(), Invalid> {
        given(value).map_or(Ok(()), |v| self.parse(v).map(drop))
    }
}

impl Variable for Directory {
    name_and_meaning!();
    fn default_value(&self) -> Option<String> {
        None
    }
    fn default_text(&self) -> Option<String> {
        Some("the system temp dir (`/tmp`)".into())
    }
    fn accepts(&self) -> Option<String> {
        Some("an existing directory".into())
    }
    fn check(&self, _: &str) -> Result<(), Invalid> {
        Ok(())
    }
}
