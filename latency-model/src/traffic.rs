//! The files that land: a traffic profile (average rate, bursts, sizes) as written on the command line or in an
//! environment, the scenario the model plays it as, and the seeded arrivals it draws from it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::rng::Rng;

/// A burst: a rate held for a while.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Burst {
    /// Files per second.
    pub rate: f64,
    pub duration: Duration,
}

/// How big the files are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Sizes {
    Fixed(u64),
    /// Spread evenly between the two, both included.
    Uniform {
        min: u64,
        max: u64,
    },
}

impl Sizes {
    pub fn mean(&self) -> f64 {
        match *self {
            Sizes::Fixed(b) => b as f64,
            Sizes::Uniform { min, max } => (min + max) as f64 / 2.0,
        }
    }

    fn draw(&self, rng: &mut Rng) -> u64 {
        match *self {
            Sizes::Fixed(b) => b,
            Sizes::Uniform { min, max } => min + rng.below((max - min + 1) as usize) as u64,
        }
    }
}

/// How arrivals are spaced within a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Spacing {
    /// Independent arrivals (a Poisson process): what many uploaders produce.
    Poisson,
    /// One every 1/rate seconds: what `cargo xtask load` produces.
    Regular,
}

/// A traffic profile: the average rate, an optional burst, the sizes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Traffic {
    /// Files per second.
    pub average: f64,
    pub burst: Option<Burst>,
    pub sizes: Sizes,
    pub spacing: Spacing,
}

impl Traffic {
    /// The same profile with every rate multiplied by `factor` (1×, 10×, 100× the volume).
    pub fn scaled(&self, factor: f64) -> Traffic {
        Traffic {
            average: self.average * factor,
            burst: self.burst.map(|b| Burst {
                rate: b.rate * factor,
                duration: b.duration,
            }),
            ..*self
        }
    }
}

/// Which files an objective is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Judged {
    /// Files landing while the mapping warms up from its first five batches: not judged, since a deployed
    /// pipeline has been running for a while.
    WarmUp,
    /// Files landing at the average rate, before any burst.
    Steady,
    /// Files landing in the burst and in the time after it, while its backlog drains.
    Burst,
}

/// One stretch of constant rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Phase {
    pub rate: f64,
    pub duration: Duration,
    pub judged: Judged,
}

/// What the model plays: phases one after another.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    pub phases: Vec<Phase>,
    pub sizes: Sizes,
    pub spacing: Spacing,
}

impl Scenario {
    /// The average rate to warm up and then to judge, then the burst (if any), then the average rate
    /// `after` it: the steady files are judged apart from the burst's, so a burst cannot hide behind a day of
    /// quiet traffic.
    pub fn of(traffic: &Traffic, lengths: Lengths) -> Scenario {
        let steady = |duration| Phase {
            rate: traffic.average,
            duration,
            judged: Judged::Steady,
        };
        let mut phases = vec![
            Phase {
                judged: Judged::WarmUp,
                ..steady(lengths.warm_up)
            },
            steady(lengths.steady),
        ];
        let after = lengths.after;
        if let Some(burst) = traffic.burst {
            phases.push(Phase {
                rate: burst.rate,
                duration: burst.duration,
                judged: Judged::Burst,
            });
            phases.push(Phase {
                judged: Judged::Burst,
                ..steady(after)
            });
        }
        Scenario {
            phases,
            sizes: traffic.sizes,
            spacing: traffic.spacing,
        }
    }

    /// One constant rate, all of it judged.
    pub fn steady(rate: f64, duration: Duration, sizes: Sizes, spacing: Spacing) -> Scenario {
        Scenario {
            phases: vec![Phase {
                rate,
                duration,
                judged: Judged::Steady,
            }],
            sizes,
            spacing,
        }
    }

    /// The same scenario with every rate multiplied by `factor`.
    pub fn scaled(&self, factor: f64) -> Scenario {
        let mut scaled = self.clone();
        for phase in &mut scaled.phases {
            phase.rate *= factor;
        }
        scaled
    }

    /// When the last phase ends, in seconds.
    pub fn length(&self) -> f64 {
        self.phases.iter().map(|p| p.duration.as_secs_f64()).sum()
    }

    /// How many files it lands, about.
    pub fn expected_files(&self) -> f64 {
        self.phases
            .iter()
            .map(|p| p.rate * p.duration.as_secs_f64())
            .sum()
    }

    /// The files it lands, in order: when (seconds from the start), how big, judged how.
    pub fn arrivals(&self, rng: &mut Rng) -> Vec<Arrival> {
        let mut arrivals = Vec::with_capacity(self.expected_files() as usize + 16);
        let mut start = 0.0;
        for phase in &self.phases {
            let end = start + phase.duration.as_secs_f64();
            if phase.rate > 0.0 {
                let gap = 1.0 / phase.rate;
                let mut at = start;
                let mut count = 0u64;
                loop {
                    // Regular arrivals are counted from the phase's start, so rounding does not add one.
                    at = match self.spacing {
                        Spacing::Poisson => at + rng.exponential(gap),
                        Spacing::Regular => start + count as f64 * gap,
                    };
                    if at >= end {
                        break;
                    }
                    count += 1;
                    arrivals.push(Arrival {
                        landed: at,
                        bytes: self.sizes.draw(rng),
                        judged: phase.judged,
                    });
                }
            }
            start = end;
        }
        arrivals
    }
}

/// How long each part of [`Scenario::of`] lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Lengths {
    pub warm_up: Duration,
    pub steady: Duration,
    pub after: Duration,
}

impl Lengths {
    /// Short enough for validation in every `cargo xtask generate`: two minutes to warm up, five of steady
    /// traffic, five after the burst.
    pub const VALIDATION: Lengths = Lengths {
        warm_up: Duration::from_secs(120),
        steady: Duration::from_secs(300),
        after: Duration::from_secs(300),
    };
}

/// One file landing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    pub landed: f64,
    pub bytes: u64,
    pub judged: Judged,
}

/// Text that is not a duration, burst or size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {text:?} is not valid: {expected}")]
pub struct ParseError {
    what: &'static str,
    text: String,
    expected: &'static str,
}

fn parse_error(what: &'static str, text: &str, expected: &'static str) -> ParseError {
    ParseError {
        what,
        text: text.to_string(),
        expected,
    }
}

/// A duration such as `90s`, `5m`, `2h` or `1d` (plain numbers are seconds).
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let expected = "write a number of seconds, or a number with s, m, h or d (e.g. 5m)";
    let t = text.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    let factor = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(parse_error("duration", text, expected)),
    };
    match number.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(Duration::from_secs_f64(n * factor)),
        _ => Err(parse_error("duration", text, expected)),
    }
}

impl FromStr for Burst {
    type Err = ParseError;

    /// `RATE:DURATION`, e.g. `100:5m`: 100 files/s for five minutes.
    fn from_str(text: &str) -> Result<Burst, ParseError> {
        let expected = "write RATE:DURATION, e.g. 100:5m for 100 files/s during five minutes";
        let (rate, duration) = text
            .split_once(':')
            .ok_or_else(|| parse_error("burst", text, expected))?;
        let rate: f64 = rate
            .trim()
            .parse()
            .map_err(|_| parse_error("burst", text, expected))?;
        if !(rate.is_finite() && rate > 0.0) {
            return Err(parse_error("burst", text, expected));
        }
        let duration =
            parse_duration(duration).map_err(|_| parse_error("burst", text, expected))?;
        Ok(Burst { rate, duration })
    }
}

/// A size such as `100000`, `100KB`, `1.5MB` (decimal units, as S3 and the bench count).
fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .char_indices()
        .find(|(_, c)| c.is_ascii_alphabetic())
        .map_or(t.len(), |(i, _)| i);
    let (number, unit) = t.split_at(split);
    let factor = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        _ => return None,
    };
    let n: f64 = number.trim().parse().ok()?;
    (n.is_finite() && n >= 1.0 / factor).then(|| (n * factor).round() as u64)
}

impl FromStr for Sizes {
    type Err = ParseError;

    /// `100KB` (every file that size) or `50KB..150KB` (spread evenly).
    fn from_str(text: &str) -> Result<Sizes, ParseError> {
        let expected =
            "write a size such as 100KB, or a range such as 50KB..150KB (B, KB, MB, GB; decimal)";
        let error = || parse_error("size", text, expected);
        match text.split_once("..") {
            Some((min, max)) => {
                let (min, max) = (
                    parse_bytes(min).ok_or_else(error)?,
                    parse_bytes(max).ok_or_else(error)?,
                );
                if min > max {
                    return Err(error());
                }
                Ok(Sizes::Uniform { min, max })
            }
            None => Ok(Sizes::Fixed(parse_bytes(text).ok_or_else(error)?)),
        }
    }
}

impl fmt::Display for Sizes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sizes::Fixed(b) => write!(f, "{} KB", *b as f64 / 1e3),
            Sizes::Uniform { min, max } => {
                write!(f, "{}–{} KB", *min as f64 / 1e3, *max as f64 / 1e3)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_as_written_and_bad_ones_say_what_to_write() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("5 weeks").is_err());
        assert_eq!(
            "100:5m".parse::<Burst>(),
            Ok(Burst {
                rate: 100.0,
                duration: Duration::from_secs(300)
            })
        );
        let bad = "100".parse::<Burst>().expect_err("no duration");
        assert!(bad.to_string().contains("RATE:DURATION"), "{bad}");
        assert_eq!("100KB".parse::<Sizes>(), Ok(Sizes::Fixed(100_000)));
        assert_eq!(
            "50KB..150KB".parse::<Sizes>(),
            Ok(Sizes::Uniform {
                min: 50_000,
                max: 150_000
            })
        );
        assert!("150KB..50KB".parse::<Sizes>().is_err());
        assert!("lots".parse::<Sizes>().is_err());
    }

    #[test]
    fn arrivals_follow_the_phases() {
        let traffic = Traffic {
            average: 10.0,
            burst: Some(Burst {
                rate: 100.0,
                duration: Duration::from_secs(60),
            }),
            sizes: Sizes::Fixed(1000),
            spacing: Spacing::Regular,
        };
        let lengths = Lengths {
            warm_up: Duration::from_secs(30),
            steady: Duration::from_secs(60),
            after: Duration::from_secs(60),
        };
        let arrivals = Scenario::of(&traffic, lengths).arrivals(&mut Rng::new(1));
        assert_eq!(arrivals.len(), 300 + 600 + 6000 + 600);
        assert_eq!(
            arrivals
                .iter()
                .filter(|a| a.judged == Judged::Steady)
                .count(),
            600
        );
        assert!(arrivals.windows(2).all(|w| w[0].landed <= w[1].landed));
        let poisson = Scenario::steady(
            10.0,
            Duration::from_secs(1000),
            Sizes::Uniform { min: 1, max: 3 },
            Spacing::Poisson,
        )
        .arrivals(&mut Rng::new(2));
        assert!(
            (9_700..10_300).contains(&poisson.len()),
            "{}",
            poisson.len()
        );
        assert!(poisson.iter().all(|a| (1..=3).contains(&a.bytes)));
    }
}
