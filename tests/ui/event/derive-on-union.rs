use cim_events::Event;

#[derive(Event)]
union OrderCreated {
    order_id: u64,
}

fn main() {}
