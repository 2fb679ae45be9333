//! The aggregator's configuration contract: every environment variable it reads ([`VARIABLES`]), whether it is
//! required, its default, the values it accepts and what it means. One table serves three readers, so they
//! cannot drift apart: the aggregator's parser reads each variable through its entry (app/src/config.rs), the
//! infrastructure model checks the variables it sets against the entries (infra-gen/src/variables.rs), and the
//! README's Configuration section is rendered from them ([`readme`], by `cargo xtask generate`).
//!
//! It is its own small crate so that the infrastructure model can depend on it without the Lambda's runtime.

mod kinds;
pub mod readme;
mod variables;

pub use kinds::{
    Directory, Flag, Invalid, Need, Number, Required, Shape, Sink, SinkChoice, Text, Unit, given,
};
pub use variables::*;

/// One variable of the table, whatever it holds: what the checks of another component and the README need.
pub trait Variable: Sync {
    fn name(&self) -> &'static str;
    fn need(&self) -> Need {
        Need::Optional
    }
    /// The default, as the aggregator would read it from the environment; `None` when the variable has none.
    fn default_value(&self) -> Option<String>;
    /// The default, as the README shows it.
    fn default_text(&self) -> Option<String> {
        self.default_value().map(|v| format!("`{v}`"))
    }
    /// The values it accepts, as the README shows them; `None` when any text is.
    fn accepts(&self) -> Option<String> {
        None
    }
    fn meaning(&self) -> &'static str;
    /// Checks a value as the aggregator reads it; blank counts as unset.
    fn check(&self, value: &str) -> Result<(), Invalid>;
}

/// The entry of the variable called `name`.
pub fn find(name: &str) -> Option<&'static dyn Variable> {
    VARIABLES.iter().copied().find(|v| v.name() == name)
}

/// The variable whose name is nearest to `name`, for a "did you mean": at most a few letters off.
pub fn nearest(name: &str) -> Option<&'static str> {
    VARIABLES
        .iter()
        .map(|v| (edit_distance(name, v.name()), v.name()))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, name)| name)
}

/// Levenshtein distance over bytes (variable names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_upper_snake_case_and_found() {
        let mut names: Vec<&str> = VARIABLES.iter().map(|v| v.name()).collect();
        for name in &names {
            assert!(
                name.bytes()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_'),
                "{name}"
            );
            assert_eq!(find(name).map(|v| v.name()), Some(*name));
        }
        names.sort();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "a variable is listed twice");
    }

    #[test]
    fn every_default_is_a_value_its_variable_accepts() {
        for v in VARIABLES {
            if let Some(default) = v.default_value() {
                v.check(&default)
                    .unwrap_or_else(|e| panic!("the default of {e}"));
            }
        }
    }

    #[test]
    fn a_misspelling_finds_the_variable_meant_and_nonsense_finds_none() {
        assert_eq!(nearest("GZIP_LEVL"), Some("GZIP_LEVEL"));
        assert_eq!(nearest("DOWNLOAD_CONCURENCY"), Some("DOWNLOAD_CONCURRENCY"));
        assert_eq!(nearest("SOMETHING_ELSE_ENTIRELY"), None);
    }
}
