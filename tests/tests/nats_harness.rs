//! The nats-server harness itself: a single server and a three-node cluster start, serve
//! JetStream on loopback, and stop.

use std::time::Duration;

use tests::nats::{NatsCluster, NatsServer};

#[tokio::test]
async fn single_server_serves_jetstream_and_stops_on_drop() {
    let server = NatsServer::start().await;
    let url = server.url();
    assert!(url.starts_with("nats://127.0.0.1:"));
    let client = async_nats::connect(&url).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let info = js.query_account().await.expect("account info");
    assert_eq!(info.streams, 0);
    let port = server.port();
    drop(server);
    let refused = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    );
    assert!(refused.is_err(), "server still listening after drop");
}

#[tokio::test]
async fn cluster_of_three_accepts_r3_streams() {
    let cluster = NatsCluster::start().await;
    assert_eq!(cluster.servers.len(), 3);
    let client = async_nats::connect(cluster.addrs()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let mut stream = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: "R3".into(),
            subjects: vec!["r3.>".into()],
            num_replicas: 3,
            ..Default::default()
        })
        .await
        .expect("create R3 stream");
    let info = stream.info().await.expect("info");
    assert_eq!(info.config.num_replicas, 3);
    assert_eq!(
        info.cluster.as_ref().expect("cluster info").replicas.len(),
        2
    );
}
