//! The pipeline's environments as typed values, one file each. Adding an environment is one file and one
//! line in [`all`].

use infra_gen::Environment;

pub mod dev;
pub mod local;
pub mod prod;

/// Every environment, in the order `cargo xtask generate` writes them.
pub fn all() -> Vec<Environment> {
    vec![
        local::environment(),
        dev::environment(),
        prod::environment(),
    ]
}

/// The environment called `name`, if there is one.
pub fn by_name(name: &str) -> Option<Environment> {
    all().into_iter().find(|env| env.name == name)
}

/// The names of every environment, for error messages.
pub fn names() -> Vec<String> {
    all().into_iter().map(|env| env.name).collect()
}
