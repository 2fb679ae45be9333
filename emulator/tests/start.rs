//! Moto starts through the launcher (which refuses a moto whose patched code changed) and answers on loopback.

use std::io::{Read, Write};
use std::net::TcpStream;

#[test]
fn starts_and_answers_on_loopback() {
    let moto = emulator::Moto::start().unwrap_or_else(|e| panic!("{e}"));
    let address = moto.endpoint().trim_start_matches("http://");
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .write_all(b"GET /?Action=ListQueues HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
