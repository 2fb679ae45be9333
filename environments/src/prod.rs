//! `prod`: the production account, delivering to the on-premise NiFi over a site-to-site VPN.
//!
//! The link is a VPN on a virtual private gateway of the VPC, with BGP: the usual first link of an on-premise
//! site (two IPsec tunnels to the site's router, a tunnel that fails withdrawn by BGP), and it needs nothing
//! from the network team but the router's address, its ASN and the routes. A site that already runs a Transit
//! Gateway or Direct Connect declares `Link::TransitGateway` or `Link::DirectConnect` instead; the routes,
//! security group and DNS forwarding stay the same. The private subnets route the on-premise ranges below over
//! the link and nothing else; `onprem.example.internal` is forwarded to the on-premise DNS servers.
//!
//! PLACEHOLDERS, to be replaced by the network team's values before the first deploy (the RUNBOOK lists
//! them): the customer gateway's address 203.0.113.10 (RFC 5737 documentation range), its ASN 65010, the
//! on-premise ranges, DNS servers and domain (`example.internal`), and the endpoint's URL.

use std::time::Duration;

use infra_gen::config::{
    CustomerGateway, Endpoint, Link, OnPremise, OnPremiseDns, Release, Sink, Vpn, VpnGateway,
    VpnRouting,
};
use infra_gen::{Environment, Kind};

pub fn environment() -> Environment {
    let mut env = Environment::new("prod", Kind::Production, "eu-west-2");
    env.state_bucket = Some("file-aggregator-prod-tfstate".into());
    env.prevent_destroy = true;
    env.sink = Sink::Nifi(Endpoint::OnPremise {
        // PLACEHOLDER: NiFi's ListenHTTP (or the proxy in front of it), under the forwarded domain.
        url: "https://nifi.onprem.example.internal:9443/contentListener".into(),
        // PLACEHOLDER: the NiFi servers' range; the security group lets the aggregator out to it on `port` only.
        cidrs: vec!["10.100.20.0/24".into()],
        port: 9443,
        // NiFi's ListenHTTP has no body cap; set this when a proxy in front of it has one.
        max_request_bytes: None,
    });
    env.network.vpc_cidr = "10.30.0.0/16".into();
    env.network.private_subnets[0].cidr = "10.30.1.0/24".into();
    env.network.private_subnets[1].cidr = "10.30.2.0/24".into();
    env.network.on_premise = Some(OnPremise {
        // PLACEHOLDER: the DNS servers' range and the NiFi servers' range, and nothing wider.
        cidrs: vec!["10.100.0.0/24".into(), "10.100.20.0/24".into()],
        link: Link::Vpn(Vpn {
            gateway: VpnGateway::VirtualPrivateGateway {
                amazon_side_asn: 64512,
            },
            customer_gateway: CustomerGateway {
                // PLACEHOLDER (documentation address): the on-premise router's static public address.
                ip_address: "203.0.113.10".into(),
                // PLACEHOLDER: the router's BGP ASN (a private one here).
                bgp_asn: 65010,
            },
            routing: VpnRouting::Bgp,
        }),
        dns: Some(OnPremiseDns {
            // PLACEHOLDER: the on-premise domain and its DNS servers.
            domain: "onprem.example.internal".into(),
            servers: vec!["10.100.0.10".into(), "10.100.0.11".into()],
        }),
    });
    env.external_party.account_id = Some("111122223333".into());
    env.external_party.source_cidrs = vec!["198.51.100.0/24".into()];
    // Agreed with the party and given to it with the role's ARN; it proves the request is made for us.
    env.external_party.external_id = "file-aggregator-prod-landing-7c1e".into();
    env.alarms.email = Some("file-aggregator-oncall@example.com".into());
    // The daily report reads the landing bucket's daily S3 Inventory: a listing of a week of versions takes too
    // long at 100× the seeds' volume, an inventory is a few files.
    env.reporter.inventory = true;
    // A release reaches a tenth of the invocations first, for as long as its slowest watched alarm (p99.9 over
    // 10 minutes at the declared traffic) needs to judge it; the error alarm or a latency alarm rolls it back.
    env.release = Release::Canary {
        weight_percent: 10,
        bake: Duration::from_secs(15 * 60),
    };
    env
}
