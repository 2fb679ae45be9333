//! The decisions of a release, as pure functions of what the alias, the published versions and the alarms
//! say: where a deploy moves the `live` alias (at once, as a canary, or nowhere), the canary's verdict at each
//! look at its alarms, where a rollback points it, and the record of served and rolled-back versions the
//! alias carries in its description (the only place that outlives one command, and travels with the alias).

use std::fmt;
use std::time::Duration;

use infra_gen::config::Release;

/// Lambda's cap on an alias description.
pub const DESCRIPTION_MAX: usize = 256;
const SERVED: &str = "served (newest first):";
const ROLLED_BACK: &str = "rolled back:";
/// Rolled-back versions remembered; older ones may be released again.
const ROLLED_BACK_KEPT: usize = 5;

/// What the alias's description records: the versions it served, newest first (the live one first), and the
/// versions rolled back, which a deploy does not release again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub served: Vec<u32>,
    pub rolled_back: Vec<u32>,
}

/// A description that is not a record this module wrote (someone edited the alias by hand).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the live alias's description {0:?} is not a release record written by cargo xtask: point the alias with `cargo xtask rollback <env> --to <version>`, which writes a new one"
)]
pub struct UnreadableRecord(pub String);

impl Record {
    /// The record in a description; an empty description (an alias as Terraform created it) is an empty one.
    pub fn parse(description: &str) -> Result<Record, UnreadableRecord> {
        let unreadable = || UnreadableRecord(description.to_owned());
        let mut record = Record::default();
        for part in description
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (list, numbers) = if let Some(rest) = part.strip_prefix(SERVED) {
                (&mut record.served, rest)
            } else if let Some(rest) = part.strip_prefix(ROLLED_BACK) {
                (&mut record.rolled_back, rest)
            } else {
                return Err(unreadable());
            };
            for n in numbers.split_whitespace() {
                list.push(n.parse().map_err(|_| unreadable())?);
            }
        }
        Ok(record)
    }

    /// The description: the oldest entries are dropped until it fits Lambda's cap.
    pub fn describe(&self) -> String {
        let mut record = self.clone();
        record.rolled_back.truncate(ROLLED_BACK_KEPT);
        loop {
            let text = record.to_string();
            if text.len() <= DESCRIPTION_MAX || record.served.len() <= 1 {
                return text;
            }
            record.served.pop();
        }
    }

    /// After the alias moved from `from` to `to` by a release.
    pub fn released(&self, from: u32, to: u32) -> Record {
        let mut served = vec![to, from];
        served.extend(self.served.iter().filter(|v| **v != to && **v != from));
        Record {
            served,
            rolled_back: self
                .rolled_back
                .iter()
                .copied()
                .filter(|v| *v != to)
                .collect(),
        }
    }

    /// After `refused` was taken off the alias and `live` serves alone (a rollback, or a failed canary).
    pub fn rolled_back(&self, refused: u32, live: u32) -> Record {
        let mut served = vec![live];
        served.extend(
            self.served
                .iter()
                .copied()
                .skip_while(|v| *v == refused)
                .filter(|v| *v != live && *v != refused),
        );
        let mut rolled_back = vec![refused];
        rolled_back.extend(self.rolled_back.iter().copied().filter(|v| *v != refused));
        Record {
            served,
            rolled_back,
        }
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(" ");
        write!(f, "{SERVED} {}", list(&self.served))?;
        if !self.rolled_back.is_empty() {
            write!(f, "; {ROLLED_BACK} {}", list(&self.rolled_back))?;
        }
        Ok(())
    }
}

/// A canary in progress: `weight` (0..1) of the invocations go to `version`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Canary {
    pub version: u32,
    pub weight: f64,
}

/// Where the alias points now. A description that is not a record reads as an empty record, so a release or
/// `rollback --to` can still write one; only "the version before" needs the record, and says it is missing.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasState {
    pub version: u32,
    pub canary: Option<Canary>,
    pub record: Record,
    pub unreadable: Option<UnreadableRecord>,
}

/// What a deploy does with the alias.
#[derive(Debug, Clone, PartialEq)]
pub enum Shift {
    /// The alias serves the published version already; an interrupted canary, if any, is ended.
    UpToDate {
        version: u32,
        interrupted: Option<Canary>,
    },
    /// The published version was rolled back: the alias stays where it is.
    HeldBack {
        version: u32,
        live: u32,
    },
    AllAtOnce {
        from: u32,
        to: u32,
    },
    Canary {
        from: u32,
        to: u32,
        weight_percent: u32,
        bake: Duration,
    },
}

/// Where a deploy moves the alias, given the version the deploy published and the environment's strategy.
pub fn shift(alias: &AliasState, published: u32, release: Release) -> Shift {
    if published == alias.version {
        return Shift::UpToDate {
            version: published,
            interrupted: alias.canary,
        };
    }
    if alias.record.rolled_back.contains(&published) {
        return Shift::HeldBack {
            version: published,
            live: alias.version,
        };
    }
    match release {
        Release::AllAtOnce => Shift::AllAtOnce {
            from: alias.version,
            to: published,
        },
        Release::Canary {
            weight_percent,
            bake,
        } => Shift::Canary {
            from: alias.version,
            to: published,
            weight_percent,
            bake,
        },
    }
}

/// An alarm's state as the canary reads it; `Unreadable` when CloudWatch did not say (the alarm is missing, or
/// the call failed), which no canary may take for OK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
    Unreadable(String),
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlarmState::Ok => f.write_str("OK"),
            AlarmState::Alarm => f.write_str("ALARM"),
            AlarmState::InsufficientData => f.write_str("INSUFFICIENT_DATA"),
            AlarmState::Unreadable(why) => write!(f, "unreadable ({why})"),
        }
    }
}

/// How a canary ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The bake is over and nothing fired: all traffic to the new version.
    Promote,
    /// These alarms fired, or could not be read: all traffic back to the old version.
    RollBack(Vec<String>),
}

/// The alarms that stop a canary: those in ALARM, and those that could not be read.
fn stoppers(alarms: &[(String, AlarmState)]) -> Vec<String> {
    alarms
        .iter()
        .filter_map(|(name, state)| match state {
            AlarmState::Alarm => Some(format!("{name} is in ALARM")),
            AlarmState::Unreadable(why) => Some(format!("{name} could not be read ({why})")),
            AlarmState::Ok | AlarmState::InsufficientData => None,
        })
        .collect()
}

/// The canary's verdict after `elapsed` of a `bake`, or `None` to keep baking: an alarm that fires (or
/// cannot be read) at any look rolls back, even at the last one; only a bake that ends clean promotes. No data
/// is not a failure: a quiet period has no latency and no errors.
pub fn judge(
    alarms: &[(String, AlarmState)],
    elapsed: Duration,
    bake: Duration,
) -> Option<Verdict> {
    let stop = stoppers(alarms);
    if !stop.is_empty() {
        Some(Verdict::RollBack(stop))
    } else if elapsed >= bake {
        Some(Verdict::Promote)
    } else {
        None
    }
}

/// Alarms already firing before a canary starts: it could not tell its own effect from theirs, so it does not
/// start. Empty when the canary may start.
pub fn already_firing(alarms: &[(String, AlarmState)]) -> Vec<String> {
    stoppers(alarms)
}

/// What a rollback does with the alias.
#[derive(Debug, Clone, PartialEq)]
pub enum Rollback {
    /// A canary is running (or was interrupted): every invocation goes back to the old version.
    CancelCanary {
        live: u32,
        canary: Canary,
    },
    To {
        from: u32,
        to: u32,
    },
}

impl Rollback {
    /// The record once it is done: a version taken off the alias is remembered as rolled back, unless the
    /// alias moves forward (`--to` a newer version), which is a release made on purpose.
    pub fn record(&self, record: &Record) -> Record {
        match *self {
            Rollback::CancelCanary { live, canary } => record.rolled_back(canary.version, live),
            Rollback::To { from, to } if to > from => record.released(from, to),
            Rollback::To { from, to } => record.rolled_back(from, to),
        }
    }
}

/// Why there is nothing to roll back to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollbackError {
    #[error(
        "the live alias has served only version {live} since cargo xtask started recording releases: name the version to serve with --to (published: {published})"
    )]
    NoPrevious { live: u32, published: String },
    #[error("version {0} is not published: choose one of {1}")]
    NotPublished(u32, String),
    #[error("the live alias serves version {0} already")]
    AlreadyLive(u32),
    #[error(transparent)]
    Unrecorded(#[from] UnreadableRecord),
}

/// Where a rollback points the alias: `to` when given, else the version it served before the live one.
pub fn rollback(
    alias: &AliasState,
    to: Option<u32>,
    published: &[u32],
) -> Result<Rollback, RollbackError> {
    let listed = || {
        published
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let target = match (to, alias.canary) {
        (None, Some(canary)) => {
            return Ok(Rollback::CancelCanary {
                live: alias.version,
                canary,
            });
        }
        (Some(version), _) => version,
        (None, None) => {
            if let Some(unreadable) = &alias.unreadable {
                return Err(unreadable.clone().into());
            }
            // The record's newest entry is the live version, unless the alias was moved by hand since:
            // then the version xtask last released is the one to go back to.
            let served = &alias.record.served;
            let skip = usize::from(served.first() == Some(&alias.version));
            served
                .iter()
                .skip(skip)
                .copied()
                .find(|v| *v != alias.version && published.contains(v))
                .ok_or_else(|| RollbackError::NoPrevious {
                    live: alias.version,
                    published: listed(),
                })?
        }
    };
    if !published.contains(&target) {
        return Err(RollbackError::NotPublished(target, listed()));
    }
    if target == alias.version && alias.canary.is_none() {
        return Err(RollbackError::AlreadyLive(target));
    }
    Ok(Rollback::To {
        from: alias.version,
        to: target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(version: u32, served: &[u32], rolled_back: &[u32]) -> AliasState {
        AliasState {
            version,
            canary: None,
            record: Record {
                served: served.to_vec(),
                rolled_back: rolled_back.to_vec(),
            },
            unreadable: None,
        }
    }

    const CANARY: Release = Release::Canary {
        weight_percent: 10,
        bake: Duration::from_secs(900),
    };

    #[test]
    fn the_record_reads_back_what_it_wrote_and_fits_the_description() {
        let record = Record {
            served: vec![7, 6, 3],
            rolled_back: vec![8],
        };
        assert_eq!(
            record.describe(),
            "served (newest first): 7 6 3; rolled back: 8"
        );
        assert_eq!(Record::parse(&record.describe()), Ok(record));
        assert_eq!(Record::parse(""), Ok(Record::default()));
        assert!(Record::parse("hand-written note").is_err());
        assert!(Record::parse("served (newest first): 7 x").is_err());
        // A long history loses its oldest versions, never the live one.
        let long = Record {
            served: (1..=200).rev().collect(),
            rolled_back: (201..=210).collect(),
        };
        let text = long.describe();
        assert!(text.len() <= DESCRIPTION_MAX, "{}", text.len());
        let back = Record::parse(&text).expect("parses");
        assert_eq!(back.served[..3], [200, 199, 198]);
        assert_eq!(back.rolled_back, [201, 202, 203, 204, 205]);
    }

    #[test]
    fn a_new_version_is_released_as_the_environment_says() {
        let live = alias(3, &[3, 2], &[]);
        assert_eq!(
            shift(&live, 4, Release::AllAtOnce),
            Shift::AllAtOnce { from: 3, to: 4 }
        );
        assert_eq!(
            shift(&live, 4, CANARY),
            Shift::Canary {
                from: 3,
                to: 4,
                weight_percent: 10,
                bake: Duration::from_secs(900)
            }
        );
    }

    #[test]
    fn nothing_new_moves_nothing_but_ends_an_interrupted_canary() {
        assert_eq!(
            shift(&alias(3, &[], &[]), 3, CANARY),
            Shift::UpToDate {
                version: 3,
                interrupted: None
            }
        );
        let mut interrupted = alias(3, &[3], &[]);
        interrupted.canary = Some(Canary {
            version: 2,
            weight: 0.1,
        });
        assert_eq!(
            shift(&interrupted, 3, Release::AllAtOnce),
            Shift::UpToDate {
                version: 3,
                interrupted: interrupted.canary
            }
        );
    }

    #[test]
    fn a_rolled_back_version_is_not_released_again_by_a_deploy() {
        assert_eq!(
            shift(&alias(3, &[3], &[4]), 4, Release::AllAtOnce),
            Shift::HeldBack {
                version: 4,
                live: 3
            }
        );
        // A fix is a new version, and goes out.
        assert_eq!(
            shift(&alias(3, &[3], &[4]), 5, Release::AllAtOnce),
            Shift::AllAtOnce { from: 3, to: 5 }
        );
    }

    #[test]
    fn a_canary_waits_promotes_when_clean_and_rolls_back_on_any_alarm() {
        let bake = Duration::from_secs(900);
        let ok = |name: &str| (name.to_string(), AlarmState::Ok);
        let quiet = vec![
            ok("errors"),
            ("p95".to_string(), AlarmState::InsufficientData),
        ];
        assert_eq!(judge(&quiet, Duration::from_secs(60), bake), None);
        assert_eq!(judge(&quiet, bake, bake), Some(Verdict::Promote));
        let firing = vec![ok("errors"), ("p95".to_string(), AlarmState::Alarm)];
        assert_eq!(
            judge(&firing, Duration::from_secs(60), bake),
            Some(Verdict::RollBack(vec!["p95 is in ALARM".into()]))
        );
        // Even at the end of the bake, an alarm wins over the clock.
        assert!(matches!(
            judge(&firing, bake, bake),
            Some(Verdict::RollBack(_))
        ));
        // An alarm nobody could read is no evidence of health.
        let unknown = vec![(
            "errors".to_string(),
            AlarmState::Unreadable("no such alarm".into()),
        )];
        assert_eq!(
            judge(&unknown, bake, bake),
            Some(Verdict::RollBack(vec![
                "errors could not be read (no such alarm)".into()
            ]))
        );
    }

    #[test]
    fn a_canary_does_not_start_under_an_alarm_already_firing() {
        let alarms = vec![
            ("errors".to_string(), AlarmState::Alarm),
            ("p95".to_string(), AlarmState::Ok),
        ];
        assert_eq!(already_firing(&alarms), ["errors is in ALARM"]);
        assert!(already_firing(&[("p95".to_string(), AlarmState::Ok)]).is_empty());
    }

    #[test]
    fn rollback_goes_to_the_version_served_before() {
        let published = [1, 2, 3, 4, 5];
        assert_eq!(
            rollback(&alias(5, &[5, 3, 2], &[4]), None, &published),
            Ok(Rollback::To { from: 5, to: 3 })
        );
        // Moved by hand to 4 since the last release of 5: back to what xtask released last.
        assert_eq!(
            rollback(&alias(4, &[5, 3], &[]), None, &published),
            Ok(Rollback::To { from: 4, to: 5 })
        );
        // --to names any published version.
        assert_eq!(
            rollback(&alias(5, &[5, 3], &[]), Some(1), &published),
            Ok(Rollback::To { from: 5, to: 1 })
        );
        assert_eq!(
            rollback(&alias(5, &[5], &[]), None, &published),
            Err(RollbackError::NoPrevious {
                live: 5,
                published: "1, 2, 3, 4, 5".into()
            })
        );
        assert_eq!(
            rollback(&alias(5, &[5, 3], &[]), Some(9), &published),
            Err(RollbackError::NotPublished(9, "1, 2, 3, 4, 5".into()))
        );
        assert_eq!(
            rollback(&alias(5, &[5, 3], &[]), Some(5), &published),
            Err(RollbackError::AlreadyLive(5))
        );
        // Without a record, only --to can say where to go.
        let mut by_hand = alias(5, &[], &[]);
        by_hand.unreadable = Some(UnreadableRecord("hotfix".into()));
        assert_eq!(
            rollback(&by_hand, None, &published),
            Err(RollbackError::Unrecorded(UnreadableRecord("hotfix".into())))
        );
        assert_eq!(
            rollback(&by_hand, Some(4), &published),
            Ok(Rollback::To { from: 5, to: 4 })
        );
        // A previous version deleted since is skipped.
        assert_eq!(
            rollback(&alias(5, &[5, 3, 2], &[]), None, &[1, 2, 4, 5]),
            Ok(Rollback::To { from: 5, to: 2 })
        );
    }

    #[test]
    fn rollback_during_a_canary_cancels_it() {
        let mut live = alias(3, &[3], &[]);
        let canary = Canary {
            version: 4,
            weight: 0.1,
        };
        live.canary = Some(canary);
        assert_eq!(
            rollback(&live, None, &[3, 4]),
            Ok(Rollback::CancelCanary { live: 3, canary })
        );
    }

    #[test]
    fn records_follow_releases_and_rollbacks() {
        let start = Record {
            served: vec![3, 2],
            rolled_back: vec![],
        };
        let released = start.released(3, 5);
        assert_eq!(released.served, [5, 3, 2]);
        let rolled = released.rolled_back(5, 3);
        assert_eq!(rolled.served, [3, 2]);
        assert_eq!(rolled.rolled_back, [5]);
        // Releasing a rolled-back version on purpose (rollback --to) takes it off the list.
        let again = rolled.released(3, 5);
        assert_eq!(again.served, [5, 3, 2]);
        assert!(again.rolled_back.is_empty());
        // A failed canary of 6 leaves 3 live and remembers 6.
        let failed = rolled.rolled_back(6, 3);
        assert_eq!(failed.served, [3, 2]);
        assert_eq!(failed.rolled_back, [6, 5]);
        // A rollback remembers what it took off; going forward on purpose is a release.
        let at_five = Record {
            served: vec![5, 3],
            rolled_back: vec![],
        };
        let back = Rollback::To { from: 5, to: 3 }.record(&at_five);
        assert_eq!((back.served, back.rolled_back), (vec![3], vec![5]));
        let forward = Rollback::To { from: 3, to: 5 }.record(&rolled);
        assert_eq!(
            (forward.served, forward.rolled_back),
            (vec![5, 3, 2], vec![])
        );
        let cancelled = Rollback::CancelCanary {
            live: 3,
            canary: Canary {
                version: 6,
                weight: 0.1,
            },
        }
        .record(&start);
        assert_eq!(
            (cancelled.served, cancelled.rolled_back),
            (vec![3, 2], vec![6])
        );
        // An alias Terraform just created has no record: the first release starts one.
        assert_eq!(Record::default().released(1, 2).served, [2, 1]);
    }
}
