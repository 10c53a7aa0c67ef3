use cim_events::apply;

struct Account;

impl Account {
    #[apply]
    fn opened(&mut self) {}
}

fn main() {}
