//! An enum with 40 variants and an aggregate with one `#[apply]` for each.
#![deny(warnings)]

use cim_events::{Aggregate, Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Signal")]
enum SignalEvent {
    Happened0 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened1 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened2 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened3 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened4 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened5 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened6 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened7 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened8 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened9 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened10 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened11 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened12 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened13 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened14 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened15 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened16 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened17 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened18 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened19 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened20 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened21 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened22 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened23 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened24 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened25 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened26 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened27 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened28 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened29 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened30 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened31 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened32 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened33 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened34 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened35 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened36 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened37 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened38 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
    Happened39 {
        #[event(id)]
        stream_id: String,
        value: u32,
    },
}

struct Signal {
    sum: u32,
    seen: [bool; 40],
}

impl Default for Signal {
    fn default() -> Self {
        Signal { sum: 0, seen: [false; 40] }
    }
}

#[aggregate(events = SignalEvent)]
impl Signal {
    #[apply(Happened0)]
    fn happened_0(&mut self, value: &u32) {
        self.sum += value;
        self.seen[0] = true;
    }

    #[apply(Happened1)]
    fn happened_1(&mut self, value: &u32) {
        self.sum += value;
        self.seen[1] = true;
    }

    #[apply(Happened2)]
    fn happened_2(&mut self, value: &u32) {
        self.sum += value;
        self.seen[2] = true;
    }

    #[apply(Happened3)]
    fn happened_3(&mut self, value: &u32) {
        self.sum += value;
        self.seen[3] = true;
    }

    #[apply(Happened4)]
    fn happened_4(&mut self, value: &u32) {
        self.sum += value;
        self.seen[4] = true;
    }

    #[apply(Happened5)]
    fn happened_5(&mut self, value: &u32) {
        self.sum += value;
        self.seen[5] = true;
    }

    #[apply(Happened6)]
    fn happened_6(&mut self, value: &u32) {
        self.sum += value;
        self.seen[6] = true;
    }

    #[apply(Happened7)]
    fn happened_7(&mut self, value: &u32) {
        self.sum += value;
        self.seen[7] = true;
    }

    #[apply(Happened8)]
    fn happened_8(&mut self, value: &u32) {
        self.sum += value;
        self.seen[8] = true;
    }

    #[apply(Happened9)]
    fn happened_9(&mut self, value: &u32) {
        self.sum += value;
        self.seen[9] = true;
    }

    #[apply(Happened10)]
    fn happened_10(&mut self, value: &u32) {
        self.sum += value;
        self.seen[10] = true;
    }

    #[apply(Happened11)]
    fn happened_11(&mut self, value: &u32) {
        self.sum += value;
        self.seen[11] = true;
    }

    #[apply(Happened12)]
    fn happened_12(&mut self, value: &u32) {
        self.sum += value;
        self.seen[12] = true;
    }

    #[apply(Happened13)]
    fn happened_13(&mut self, value: &u32) {
        self.sum += value;
        self.seen[13] = true;
    }

    #[apply(Happened14)]
    fn happened_14(&mut self, value: &u32) {
        self.sum += value;
        self.seen[14] = true;
    }

    #[apply(Happened15)]
    fn happened_15(&mut self, value: &u32) {
        self.sum += value;
        self.seen[15] = true;
    }

    #[apply(Happened16)]
    fn happened_16(&mut self, value: &u32) {
        self.sum += value;
        self.seen[16] = true;
    }

    #[apply(Happened17)]
    fn happened_17(&mut self, value: &u32) {
        self.sum += value;
        self.seen[17] = true;
    }

    #[apply(Happened18)]
    fn happened_18(&mut self, value: &u32) {
        self.sum += value;
        self.seen[18] = true;
    }

    #[apply(Happened19)]
    fn happened_19(&mut self, value: &u32) {
        self.sum += value;
        self.seen[19] = true;
    }

    #[apply(Happened20)]
    fn happened_20(&mut self, value: &u32) {
        self.sum += value;
        self.seen[20] = true;
    }

    #[apply(Happened21)]
    fn happened_21(&mut self, value: &u32) {
        self.sum += value;
        self.seen[21] = true;
    }

    #[apply(Happened22)]
    fn happened_22(&mut self, value: &u32) {
        self.sum += value;
        self.seen[22] = true;
    }

    #[apply(Happened23)]
    fn happened_23(&mut self, value: &u32) {
        self.sum += value;
        self.seen[23] = true;
    }

    #[apply(Happened24)]
    fn happened_24(&mut self, value: &u32) {
        self.sum += value;
        self.seen[24] = true;
    }

    #[apply(Happened25)]
    fn happened_25(&mut self, value: &u32) {
        self.sum += value;
        self.seen[25] = true;
    }

    #[apply(Happened26)]
    fn happened_26(&mut self, value: &u32) {
        self.sum += value;
        self.seen[26] = true;
    }

    #[apply(Happened27)]
    fn happened_27(&mut self, value: &u32) {
        self.sum += value;
        self.seen[27] = true;
    }

    #[apply(Happened28)]
    fn happened_28(&mut self, value: &u32) {
        self.sum += value;
        self.seen[28] = true;
    }

    #[apply(Happened29)]
    fn happened_29(&mut self, value: &u32) {
        self.sum += value;
        self.seen[29] = true;
    }

    #[apply(Happened30)]
    fn happened_30(&mut self, value: &u32) {
        self.sum += value;
        self.seen[30] = true;
    }

    #[apply(Happened31)]
    fn happened_31(&mut self, value: &u32) {
        self.sum += value;
        self.seen[31] = true;
    }

    #[apply(Happened32)]
    fn happened_32(&mut self, value: &u32) {
        self.sum += value;
        self.seen[32] = true;
    }

    #[apply(Happened33)]
    fn happened_33(&mut self, value: &u32) {
        self.sum += value;
        self.seen[33] = true;
    }

    #[apply(Happened34)]
    fn happened_34(&mut self, value: &u32) {
        self.sum += value;
        self.seen[34] = true;
    }

    #[apply(Happened35)]
    fn happened_35(&mut self, value: &u32) {
        self.sum += value;
        self.seen[35] = true;
    }

    #[apply(Happened36)]
    fn happened_36(&mut self, value: &u32) {
        self.sum += value;
        self.seen[36] = true;
    }

    #[apply(Happened37)]
    fn happened_37(&mut self, value: &u32) {
        self.sum += value;
        self.seen[37] = true;
    }

    #[apply(Happened38)]
    fn happened_38(&mut self, value: &u32) {
        self.sum += value;
        self.seen[38] = true;
    }

    #[apply(Happened39)]
    fn happened_39(&mut self, value: &u32) {
        self.sum += value;
        self.seen[39] = true;
    }
}

fn main() {
    let events = [SignalEvent::Happened0 { stream_id: "s-1".into(), value: 0 }, SignalEvent::Happened1 { stream_id: "s-1".into(), value: 1 }, SignalEvent::Happened2 { stream_id: "s-1".into(), value: 2 }, SignalEvent::Happened3 { stream_id: "s-1".into(), value: 3 }, SignalEvent::Happened4 { stream_id: "s-1".into(), value: 4 }, SignalEvent::Happened5 { stream_id: "s-1".into(), value: 5 }, SignalEvent::Happened6 { stream_id: "s-1".into(), value: 6 }, SignalEvent::Happened7 { stream_id: "s-1".into(), value: 7 }, SignalEvent::Happened8 { stream_id: "s-1".into(), value: 8 }, SignalEvent::Happened9 { stream_id: "s-1".into(), value: 9 }, SignalEvent::Happened10 { stream_id: "s-1".into(), value: 10 }, SignalEvent::Happened11 { stream_id: "s-1".into(), value: 11 }, SignalEvent::Happened12 { stream_id: "s-1".into(), value: 12 }, SignalEvent::Happened13 { stream_id: "s-1".into(), value: 13 }, SignalEvent::Happened14 { stream_id: "s-1".into(), value: 14 }, SignalEvent::Happened15 { stream_id: "s-1".into(), value: 15 }, SignalEvent::Happened16 { stream_id: "s-1".into(), value: 16 }, SignalEvent::Happened17 { stream_id: "s-1".into(), value: 17 }, SignalEvent::Happened18 { stream_id: "s-1".into(), value: 18 }, SignalEvent::Happened19 { stream_id: "s-1".into(), value: 19 }, SignalEvent::Happened20 { stream_id: "s-1".into(), value: 20 }, SignalEvent::Happened21 { stream_id: "s-1".into(), value: 21 }, SignalEvent::Happened22 { stream_id: "s-1".into(), value: 22 }, SignalEvent::Happened23 { stream_id: "s-1".into(), value: 23 }, SignalEvent::Happened24 { stream_id: "s-1".into(), value: 24 }, SignalEvent::Happened25 { stream_id: "s-1".into(), value: 25 }, SignalEvent::Happened26 { stream_id: "s-1".into(), value: 26 }, SignalEvent::Happened27 { stream_id: "s-1".into(), value: 27 }, SignalEvent::Happened28 { stream_id: "s-1".into(), value: 28 }, SignalEvent::Happened29 { stream_id: "s-1".into(), value: 29 }, SignalEvent::Happened30 { stream_id: "s-1".into(), value: 30 }, SignalEvent::Happened31 { stream_id: "s-1".into(), value: 31 }, SignalEvent::Happened32 { stream_id: "s-1".into(), value: 32 }, SignalEvent::Happened33 { stream_id: "s-1".into(), value: 33 }, SignalEvent::Happened34 { stream_id: "s-1".into(), value: 34 }, SignalEvent::Happened35 { stream_id: "s-1".into(), value: 35 }, SignalEvent::Happened36 { stream_id: "s-1".into(), value: 36 }, SignalEvent::Happened37 { stream_id: "s-1".into(), value: 37 }, SignalEvent::Happened38 { stream_id: "s-1".into(), value: 38 }, SignalEvent::Happened39 { stream_id: "s-1".into(), value: 39 }];
    let mut signal = Signal::default();
    for event in &events {
        signal.apply(event);
        let back = SignalEvent::from_payload(event.event_type(), 1, event.to_payload().unwrap()).unwrap();
        assert_eq!(&back, event);
    }
    assert!(signal.seen.iter().all(|s| *s));
    assert_eq!(signal.sum, (40 * (40 - 1)) / 2);
    assert_eq!(SignalEvent::EVENT_TYPES.len(), 40);
    assert_eq!(SignalEvent::EVENT_TYPES[39], "Happened39");
    assert_eq!(SignalEvent::FILTER_HAPPENED39, "events.*.Happened39");
}
