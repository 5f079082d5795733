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
