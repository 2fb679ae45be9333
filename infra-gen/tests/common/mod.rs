//! Environments to break one field at a time, and the helpers that read what validation and rendering say.

#![allow(dead_code)]

use std::collections::BTreeMap;

use infra_gen::config::{
    CustomerGateway, Endpoint, Link, OnPremise, OnPremiseDns, Sink, Subnet, Vpn, VpnGateway,
    VpnRouting,
};
use infra_gen::{Environment, Kind, Pipeline, Violations};
use serde_json::Value;

/// A valid development environment (delivering to the mock receiver).
pub fn valid() -> Environment {
    let mut env = Environment::new("test", Kind::Development, "eu-west-2");
    env.state_bucket = Some("test-tfstate".into());
    env.external_party.source_cidrs = vec!["203.0.113.0/24".into()];
    env.network.public_subnet = Some(Subnet {
        availability_zone: "eu-west-2a".into(),
        cidr: "10.20.100.0/24".into(),
    });
    env
}

/// A valid production environment (delivering to an on-premise NiFi over a VPN, its name forwarded to the
/// on-premise DNS).
pub fn production() -> Environment {
    let mut env = valid();
    env.kind = Kind::Production;
    env.prevent_destroy = true;
    env.alarms.email = Some("oncall@example.com".into());
    env.network.public_subnet = None;
    env.sink = Sink::Nifi(Endpoint::OnPremise {
        url: "https://nifi.example.internal/contentListener".into(),
        cidrs: vec!["10.100.0.0/24".into()],
        port: 443,
        max_request_bytes: None,
    });
    env.network.on_premise = Some(OnPremise {
        cidrs: vec!["10.100.0.0/16".into()],
        link: Link::Vpn(Vpn {
            gateway: VpnGateway::VirtualPrivateGateway {
                amazon_side_asn: 64512,
            },
            customer_gateway: CustomerGateway {
                ip_address: "203.0.113.10".into(),
                bgp_asn: 65010,
            },
            routing: VpnRouting::Bgp,
        }),
        dns: Some(OnPremiseDns {
            domain: "example.internal".into(),
            servers: vec!["10.100.1.10".into(), "10.100.1.11".into()],
        }),
    });
    env
}

/// The violations of an environment validation must reject.
pub fn rejected(env: Environment) -> Violations {
    match env.validate() {
        Ok(_) => panic!("the environment should have been rejected"),
        Err(violations) => violations,
    }
}

/// Asserts that `field` is reported, with a message containing every one of `words`.
pub fn assert_reported(v: &Violations, field: &str, words: &[&str]) {
    let Some(found) = v.list.iter().find(|x| x.field == field) else {
        panic!("expected a violation of {field}, got: {v}");
    };
    for word in words {
        assert!(
            found.message.contains(word),
            "message of {field} should mention {word:?}: {}",
            found.message
        );
    }
}

/// Asserts that validation reports `field` with a message containing `words`.
pub fn assert_rejects(env: Environment, field: &str, words: &str) {
    assert_reported(&rejected(env), field, &[words]);
}

/// A change to an environment, the field validation must then report, and words of its message.
pub type Case = (fn(&mut Environment), &'static str, &'static str);

/// Applies each case to a fresh environment from `base` and asserts validation reports it.
pub fn assert_each_rejected(base: fn() -> Environment, cases: &[Case]) {
    for (change, field, words) in cases {
        let mut env = base();
        change(&mut env);
        assert_rejects(env, field, words);
    }
}

pub fn pipeline(env: Environment) -> Pipeline {
    Pipeline::new(&env.validate().expect("valid environment"))
}

pub fn rendered(env: Environment) -> BTreeMap<String, String> {
    infra_gen::generate(env).unwrap_or_else(|e| panic!("renders: {e}"))
}

/// The violations generation reports for an environment that validates but breaks a rule of AWS.
pub fn refused(env: Environment) -> Violations {
    match infra_gen::generate(env) {
        Ok(_) => panic!("generation should have been refused"),
        Err(infra_gen::Error::Invalid(v)) => v,
        Err(other) => panic!("expected violations, got {other}"),
    }
}

pub fn json(files: &BTreeMap<String, String>, name: &str) -> Value {
    serde_json::from_str(&files[name]).expect("valid JSON")
}
