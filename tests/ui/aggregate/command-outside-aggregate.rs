use cim_events::command;

struct Open;

#[command]
fn open(command: Open) {
    let _ = command;
}

fn main() {}
