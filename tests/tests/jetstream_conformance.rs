//! The conformance suite against `JetStreamEventStore` on JetStream R1: one server for the
//! whole binary (startup would dominate otherwise), a fresh stream and prefix per case.

use tests::nats::{JetStreamFixture, NatsServer};

async fn fresh() -> JetStreamFixture {
    let server = NatsServer::shared().await;
    JetStreamFixture::new(vec![server.addr()], 1).await
}

tests::conformance_suite!(fresh);
