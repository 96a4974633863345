//! The real PostgreSQL the tests start (Debian's packages, on 127.0.0.1): a client
//! reaches it over TCP, it listens on 127.0.0.1 alone, and dropping it stops it.

use std::net::{Ipv4Addr, TcpListener, TcpStream};

use tellus_testkit::services::postgres::{Postgres, bin_dir};
use tellus_testkit::services::{ServiceError, or_skip};

#[test]
fn postgres_answers_a_real_client_on_loopback_only_and_stops_on_drop() {
    let Some(pg) = or_skip(Postgres::start(), "postgres_answers_a_real_client") else {
        return;
    };
    let url = pg.url().to_string();
    assert!(
        url.starts_with("postgres://tellus:") && url.contains("@127.0.0.1:"),
        "{url}"
    );
    assert_eq!(pg.psql("SELECT 1").unwrap(), "1");
    assert_eq!(pg.psql("SELECT current_database()").unwrap(), "tellus_test");
    assert_eq!(pg.psql("SHOW listen_addresses").unwrap(), "127.0.0.1");
    // The password in the URL is what lets the client in over TCP.
    let wrong = url.replacen("tellus:", "tellus:wrong", 1);
    let refused = std::process::Command::new(bin_dir().unwrap().join("psql"))
        .args(["--no-psqlrc", "--dbname", &wrong, "--command", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "a wrong password was let in");
    let port = pg.port();
    TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("it listens on 127.0.0.1");
    assert!(pg.is_ready());

    drop(pg);
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
        "nothing listens on {port} after drop"
    );
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("the port is free after drop");
}

#[test]
fn two_servers_run_side_by_side_on_their_own_ports() {
    let Some(a) = or_skip(Postgres::start(), "two_servers_run_side_by_side") else {
        return;
    };
    let b = Postgres::start().unwrap();
    assert_ne!(a.port(), b.port());
    a.psql("CREATE TABLE only_in_a (x int)").unwrap();
    assert_eq!(
        b.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'")
            .unwrap(),
        "0"
    );
}

#[test]
fn missing_binaries_are_a_clear_not_installed_error() {
    let nowhere = tempfile::tempdir().unwrap();
    let Err(e) = Postgres::start_from(nowhere.path()) else {
        panic!("started PostgreSQL from an empty folder");
    };
    assert!(matches!(e, ServiceError::NotInstalled { .. }), "{e:?}");
    let said = e.to_string();
    assert!(
        said.contains("initdb") && said.contains("apt-get install postgresql"),
        "{said}"
    );
}
