//! `dev`: a real AWS account, delivering to the project's receiver deployed as a mock NiFi behind a
//! Lambda function URL (reached through a NAT gateway, since the aggregator runs in private subnets).
//!
//! A function URL takes one request of at most 6 MB of invocation payload, in which a bundle travels
//! base64-encoded, and answers within the receiver's timeout: the model derives dev's bundle cap (about
//! 4.45 MiB) and checks the HTTP timeout from that endpoint (`infra_gen::sizing::mock_receiver_limits`), and the
//! aggregator delivers a batch larger than one bundle as several. Hosting the mock where full bundles fit
//! (a container behind a load balancer) would test the 256 MB bundles prod makes, but it is a second
//! deployment path to keep alive for a mock; the cap keeps dev on the same Lambda path and exercises the
//! splitting prod only meets with large batches.

use infra_gen::config::{Endpoint, Sink, Subnet};
use infra_gen::{Environment, Kind};

pub fn environment() -> Environment {
    let mut env = Environment::new("dev", Kind::Development, "eu-west-2");
    env.state_bucket = Some("file-aggregator-dev-tfstate".into());
    env.sink = Sink::Nifi(Endpoint::MockReceiver);
    env.network.public_subnet = Some(Subnet {
        availability_zone: "eu-west-2a".into(),
        cidr: "10.20.100.0/24".into(),
    });
    // Documentation ranges stand in for the test uploader's office until it is known.
    env.external_party.source_cidrs = vec!["203.0.113.0/24".into()];
    env.alarms.email = Some("file-aggregator-dev@example.com".into());
    // Debug for the aggregator only: the SDK's and HTTP stack's debug output is noise, and no place for secrets.
    env.function.rust_log = "info,app=debug".into();
    // Bundles reach the mock receiver through the NAT gateway: "5 Gbps of bandwidth [that] automatically scales
    // up to 100 Gbps" (Amazon VPC User Guide, NAT gateway basics, read 2026-11-22).
    env.traffic.endpoint_megabits_per_second = 5_000;
    env
}
