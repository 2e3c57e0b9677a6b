//! The mint. Placeholder until the bank issue lands.
fn main() {
    println!("mint-server: the bank arrives with its own issue");
}
