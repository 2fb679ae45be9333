//! `prod`: the production account, delivering to the on-premise NiFi over the private network (the VPN or
//! Direct Connect routes to the VPC are the network team's; this stack opens only the security group).

use std::time::Duration;

use infra_gen::config::{Endpoint, Release, Sink};
use infra_gen::{Environment, Kind};

pub fn environment() -> Environment {
    let mut env = Environment::new("prod", Kind::Production, "eu-west-2");
    env.state_bucket = Some("file-aggregator-prod-tfstate".into());
    env.prevent_destroy = true;
    env.sink = Sink::Nifi(Endpoint::OnPremise {
        url: "https://nifi.onprem.example.internal:9443/contentListener".into(),
        cidrs: vec!["10.100.20.0/24".into()],
        port: 9443,
        // NiFi's ListenHTTP has no body cap; set this when a proxy in front of it has one.
        max_request_bytes: None,
    });
    env.network.vpc_cidr = "10.30.0.0/16".into();
    env.network.private_subnets[0].cidr = "10.30.1.0/24".into();
    env.network.private_subnets[1].cidr = "10.30.2.0/24".into();
    env.external_party.account_id = Some("111122223333".into());
    env.external_party.source_cidrs = vec!["198.51.100.0/24".into()];
    // Agreed with the party and given to it with the role's ARN; it proves the request is made for us.
    env.external_party.external_id = "file-aggregator-prod-landing-7c1e".into();
    env.alarms.email = Some("file-aggregator-oncall@example.com".into());
    // A release reaches a tenth of the invocations first, for as long as its slowest watched alarm (p99.9 over
    // 10 minutes at the declared traffic) needs to judge it; the error alarm or a latency alarm rolls it back.
    env.release = Release::Canary {
        weight_percent: 10,
        bake: Duration::from_secs(15 * 60),
    };
    env
}
