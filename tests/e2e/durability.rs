//! Metadata durability: basins and streams survive SIGKILL and restart, on a local directory
//! and on an S3-compatible bucket (moto), including a restart with another shard count.

use crate::support::{temp_dir, unique_basin, Moto, Server};
use s2_sdk::types::*;

async fn create_world(server: &Server) -> Vec<(String, Vec<String>)> {
    let s2 = server.client();
    let mut world = Vec::new();
    for b in 0..3 {
        let name = unique_basin(&format!("dur{b}"));
        s2.create_basin(CreateBasinInput::new(name.parse().unwrap()))
            .await
            .unwrap();
        let basin = s2.basin(name.parse().unwrap());
        let mut streams = Vec::new();
        for s in 0..7 {
            let sname = format!("stream/{s}");
            basin
                .create_stream(CreateStreamInput::new(sname.parse().unwrap()).with_config(
                    StreamConfig::new().with_retention_policy(RetentionPolicy::Age(100 + s)),
                ))
                .await
                .unwrap();
            streams.push(sname);
        }
        world.push((name, streams));
    }
    world
}

async fn assert_world(server: &Server, world: &[(String, Vec<String>)]) {
    let s2 = server.client();
    for (basin_name, streams) in world {
        let basin = s2.basin(basin_name.parse().unwrap());
        let page = basin.list_streams(ListStreamsInput::new()).await.unwrap();
        let names: Vec<String> = page.values.iter().map(|s| s.name.to_string()).collect();
        assert_eq!(&names, streams, "streams of {basin_name}");
        for (i, s) in streams.iter().enumerate() {
            let cfg = basin.get_stream_config(s.parse().unwrap()).await.unwrap();
            assert!(
                matches!(cfg.retention_policy, Some(RetentionPolicy::Age(a)) if a == 100 + i as u64),
                "config of {s}"
            );
        }
    }
    let listed = s2
        .list_basins(ListBasinsInput::new().with_prefix("dur".parse().unwrap()))
        .await
        .unwrap();
    for (b, _) in world {
        assert!(
            listed.values.iter().any(|i| i.name.to_string() == *b),
            "basin {b} listed"
        );
    }
}

#[tokio::test]
async fn local_root_metadata_survives_sigkill_and_reshard() {
    let dir = temp_dir("durable");
    let mut server = Server::start(&["--local-root", dir.to_str().unwrap()]);
    let world = create_world(&server).await;
    server.kill();
    server.restart(&[]);
    assert_world(&server, &world).await;
    // Same data with one shard: the partition count was fixed at initialisation.
    server.kill();
    server.restart(&["--shards", "1"]);
    assert_world(&server, &world).await;
    // A clean stop (SIGTERM) exits 0 and loses nothing either.
    assert!(server.terminate().success());
    server.restart(&[]);
    assert_world(&server, &world).await;
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn bucket_metadata_survives_sigkill() {
    let moto = Moto::start();
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut server = Server::start_with_env(&["--bucket", &moto.bucket, "--path", "t1"], &env);
    let world = create_world(&server).await;
    server.kill();
    server.restart(&[]);
    assert_world(&server, &world).await;
}

/// A basin deletion cut short by SIGKILL finishes after the restart: every partition's
/// streams go, then the basin, and the name comes back empty.
#[tokio::test]
async fn basin_deletion_resumes_after_sigkill() {
    use s2_sdk::types::*;
    let root = crate::support::temp_dir("basin-deletion");
    let mut server = Server::start(&["--local-root", root.to_str().unwrap()]);
    let s2 = server.client();
    let b = crate::support::unique_basin("rs-bdel");
    s2.create_basin(CreateBasinInput::new(b.parse().unwrap()))
        .await
        .unwrap();
    let basin = s2.basin(b.parse().unwrap());
    // Enough streams to land on every partition.
    for i in 0..24 {
        let name = format!("s{i}");
        basin
            .create_stream(CreateStreamInput::new(name.parse().unwrap()))
            .await
            .unwrap();
        basin
            .stream(name.parse().unwrap())
            .append(crate::data_plane::batch(&[format!("r{i}")]))
            .await
            .unwrap();
    }
    s2.delete_basin(DeleteBasinInput::new(b.parse().unwrap()))
        .await
        .unwrap();
    server.kill();
    server.restart(&[]);
    let s2 = server.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let page = s2
            .list_basins(ListBasinsInput::new().with_prefix(b.parse().unwrap()))
            .await
            .unwrap();
        if page.values.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "basin deletion never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    s2.create_basin(CreateBasinInput::new(b.parse().unwrap()))
        .await
        .unwrap();
    let streams = s2
        .basin(b.parse().unwrap())
        .list_streams(ListStreamsInput::new())
        .await
        .unwrap();
    assert!(streams.values.is_empty(), "{:?}", streams.values);
}
