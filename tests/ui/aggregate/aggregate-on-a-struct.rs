use cim_events::aggregate;

#[aggregate(events = AccountEvent)]
struct Account;

fn main() {}
