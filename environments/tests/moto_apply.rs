//! `generated/local` applies and destroys cleanly with the real Terraform against moto server.

mod common;

use std::io::Write;

use infra_gen::terraform::{Providers, Terraform};

#[test]
fn local_applies_and_destroys_against_moto() {
    let moto = emulator::Moto::start().unwrap_or_else(|e| panic!("{e}"));
    let dir = infra_gen::terraform::copy(&common::generated("local")).expect("temp copy");

    // moto stores Lambda code but never runs it, so any zip will do for each package variable.
    let package = dir.path().join("placeholder.zip");
    write_placeholder_zip(&package);
    let validated = environments::local::environment()
        .validate()
        .unwrap_or_else(|e| panic!("{e}"));
    let pipeline = infra_gen::Pipeline::new(&validated);

    let terraform = Terraform::new(dir.path(), Providers::find())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "eu-west-2");
    terraform
        .init(&["-backend=false", "-input=false"])
        .unwrap_or_else(|e| panic!("{e}"));
    let mut vars = vec![
        "-var".to_owned(),
        format!("aws_endpoint={}", moto.endpoint()),
    ];
    for (_, variable) in pipeline.packages() {
        vars.push("-var".to_owned());
        vars.push(format!("{}={}", variable.name(), package.display()));
    }
    let command = |verb: &str| {
        let mut args = vec![verb, "-auto-approve", "-input=false"];
        args.extend(vars.iter().map(String::as_str));
        terraform.run(&args)
    };
    let applied = command("apply").unwrap_or_else(|e| panic!("{e}"));
    assert!(applied.contains("Apply complete!"), "{applied}");
    let outputs = terraform
        .run(&["output", "-json"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        outputs.contains("file-aggregator-local-landing"),
        "{outputs}"
    );
    let destroyed = command("destroy").unwrap_or_else(|e| panic!("{e}"));
    assert!(destroyed.contains("Destroy complete!"), "{destroyed}");
}

/// A minimal valid zip holding an empty `bootstrap` (stored, no compression), written by hand so the test
/// needs no zip library.
fn write_placeholder_zip(path: &std::path::Path) {
    let name = b"bootstrap";
    let mut local = Vec::new();
    local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    local.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, method, time, date
    local.extend_from_slice(&0u32.to_le_bytes()); // crc32 of empty content
    local.extend_from_slice(&0u32.to_le_bytes()); // compressed size
    local.extend_from_slice(&0u32.to_le_bytes()); // size
    local.extend_from_slice(&(name.len() as u16).to_le_bytes());
    local.extend_from_slice(&0u16.to_le_bytes());
    local.extend_from_slice(name);
    let mut central = Vec::new();
    central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    central.extend_from_slice(&[20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // made by, version, flags, method, time, date
    central.extend_from_slice(&0u32.to_le_bytes());
    central.extend_from_slice(&0u32.to_le_bytes());
    central.extend_from_slice(&0u32.to_le_bytes());
    central.extend_from_slice(&(name.len() as u16).to_le_bytes());
    central.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // extra, comment, disk, internal attrs
    central.extend_from_slice(&(0o100_755u32 << 16).to_le_bytes()); // external attrs: executable
    central.extend_from_slice(&0u32.to_le_bytes()); // offset of the local header
    central.extend_from_slice(name);
    let mut end = Vec::new();
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    end.extend_from_slice(&(central.len() as u32).to_le_bytes());
    end.extend_from_slice(&(local.len() as u32).to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    let mut file = std::fs::File::create(path).expect("create zip");
    for part in [local, central, end] {
        file.write_all(&part).expect("write zip");
    }
}
