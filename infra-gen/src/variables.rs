//! The aggregator's environment as the model sets it, held to the aggregator's own table of variables
//! (`aggregator-config`): the names come from the table's entries, every value rendered from a typed field is one
//! the aggregator accepts at start, and the environment's `function.tuning` names variables the aggregator reads
//! (a misspelt one would be silently ignored) with values it accepts.

use aggregator_config::{self as vars, Number, Variable};

use crate::config::{Environment, Violations};
use crate::pipeline::MODEL_VARIABLES;
use crate::sizing::Sizing;

/// A variable the model renders as a literal, from a typed field of the environment.
pub struct Setting {
    /// The environment's field it comes from, for violations.
    pub field: &'static str,
    pub variable: &'static dyn Variable,
    pub value: String,
}

/// The variables the model renders as literals from the environment's typed fields (the others name resources
/// and are Terraform references), with what validation derived.
pub fn settings(env: &Environment, sizing: &Sizing) -> [Setting; 8] {
    let f = &env.function;
    let setting = |field, variable, value: u64| Setting {
        field,
        variable,
        value: value.to_string(),
    };
    [
        setting(
            "redelivery.base_seconds",
            &vars::REDELIVERY_BASE_SECONDS,
            env.redelivery.base_seconds.into(),
        ),
        setting(
            "redelivery.max_seconds",
            &vars::REDELIVERY_MAX_SECONDS,
            env.redelivery.max_seconds.into(),
        ),
        Setting {
            field: "function.rust_log",
            variable: &vars::RUST_LOG,
            value: f.rust_log.clone(),
        },
        setting(
            "function.bundle_max_bytes",
            &vars::BUNDLE_MAX_BYTES,
            sizing.bundle_max_bytes,
        ),
        setting(
            "function.object_max_bytes",
            &vars::OBJECT_MAX_BYTES,
            sizing.object_max_bytes,
        ),
        setting(
            "function.download_buffer_bytes",
            &vars::DOWNLOAD_BUFFER_BYTES,
            sizing.download_buffer_bytes,
        ),
        setting(
            "function.http_timeout",
            &vars::HTTP_TIMEOUT_MS,
            millis(f.http_timeout),
        ),
        setting(
            "function.deadline_margin",
            &vars::DEADLINE_MARGIN_MS,
            millis(f.deadline_margin),
        ),
    ]
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The value `function.tuning` gives a numeric variable, or the aggregator's default (validation has
/// refused a value the aggregator would not accept).
pub fn tuned<T>(env: &Environment, variable: &Number<T>) -> T
where
    T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display,
{
    env.function
        .tuning
        .iter()
        .find(|(name, _)| *name == variable.name)
        .and_then(|(_, value)| vars::given(value))
        .and_then(|value| variable.parse(value).ok())
        .unwrap_or(variable.default)
}

/// Holds the rendered settings and the tuning to the table; violations go into `v`.
pub(crate) fn check(env: &Environment, sizing: &Sizing, v: &mut Violations) {
    let refuses = "which the aggregator refuses at start (README.md, Configuration)";
    for Setting {
        field,
        variable,
        value,
    } in settings(env, sizing)
    {
        if let Err(invalid) = variable.check(&value) {
            v.push(field, format!("{invalid}, {refuses}: change {field}"));
        }
    }
    let tuning = &env.function.tuning;
    for (i, (name, value)) in tuning.iter().enumerate() {
        let message = if MODEL_VARIABLES.contains(name) {
            format!(
                "{name} is set by the model from the environment's typed fields, so tuning cannot override it: set the typed field instead (see infra-gen/src/pipeline.rs MODEL_VARIABLES)"
            )
        } else if tuning[..i].iter().any(|(earlier, _)| earlier == name) {
            format!("{name} is tuned twice: keep one")
        } else {
            match vars::find(name) {
                None => format!(
                    "{name} is not a variable the aggregator reads, so it would be ignored: {} (every variable: README.md, Configuration)",
                    vars::nearest(name).map_or_else(
                        || "check its spelling".to_string(),
                        |near| format!("did you mean {near}?")
                    )
                ),
                Some(variable) => match variable.check(value) {
                    Ok(()) => continue,
                    Err(invalid) => format!("{invalid}, {refuses}"),
                },
            }
        };
        v.push("function.tuning", message);
    }
}
