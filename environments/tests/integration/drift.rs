//! generated/ is exactly what the environments render, and README.md's table of variables what
//! aggregator-config holds: the same checks as `cargo xtask generate --check`.
//! With `UPDATE_GENERATED=1` the tests rewrite them instead (as `cargo xtask generate` does).

#[test]
fn generated_files_are_up_to_date() {
    let mut stale = Vec::new();
    for env in environments::all() {
        let name = env.name.clone();
        let files = infra_gen::generate(env).unwrap_or_else(|e| panic!("{name}: {e}"));
        let dir = crate::common::generated(&name);
        if std::env::var_os("UPDATE_GENERATED").is_some() {
            infra_gen::output::write(&dir, &files).expect("writable generated/");
        }
        stale.extend(infra_gen::output::stale(&dir, &files).expect("readable generated/"));
    }
    assert!(
        stale.is_empty(),
        "generated files are stale, run `cargo xtask generate` and commit generated/:\n{}",
        stale
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_readme_table_of_variables_is_up_to_date() {
    let readme = crate::common::workspace().join("README.md");
    let write = std::env::var_os("UPDATE_GENERATED").is_some();
    let stale = infra_gen::output::readme(&readme, write).expect("README.md with its markers");
    assert!(
        stale.is_none() || write,
        "README.md's table of variables is stale ({stale:?}): run `cargo xtask generate` and commit README.md"
    );
}

#[test]
fn every_environment_validates_and_names_are_unique() {
    let names = crate::common::names();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        names.len(),
        "duplicate environment names: {names:?}"
    );
    for env in environments::all() {
        let name = env.name.clone();
        env.validate().unwrap_or_else(|v| panic!("{name}: {v}"));
        assert!(environments::by_name(&name).is_some());
    }
}
