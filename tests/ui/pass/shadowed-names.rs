//! The generated code is hygienic: user items named like the prelude's types, variants,
//! traits and macros, and a lowercase constant named like a parameter of the generated
//! code, change nothing. Generic events and aggregates cover the generated where clauses.
#![deny(warnings)]

mod shadowed {
    #![allow(dead_code, non_camel_case_types, non_upper_case_globals, unused_macros)]

    use ::cim_events::{CommandContext, Event, aggregate};
    use ::serde::{Deserialize, Serialize};

    type Result<T> = ::core::result::Result<T, ()>;
    type Option = ();
    struct String;
    struct Vec;
    struct Box;
    struct Some;
    struct None;
    struct Ok;
    struct Err;
    trait Send {}
    trait Sync {}
    trait Default {}
    trait Error {}
    mod std {}
    mod core {}
    mod serde {}
    mod cim_events {}
    macro_rules! panic {
        () => {};
    }
    macro_rules! unreachable {
        () => {};
    }
    macro_rules! format {
        () => {};
    }
    macro_rules! vec {
        () => {};
    }
    // (Constants named like a variant's fields would break serde's own derive, which
    // binds the fields by name; the unit tests check that `Event` binds `__f0`, `__f1`.)
    const event: () = ();

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(aggregate = "Account")]
    pub enum AccountEvent {
        Opened {
            #[event(id)]
            account_id: ::std::string::String,
            owner: ::std::string::String,
        },
        Deposited {
            #[event(id)]
            account_id: ::std::string::String,
            #[serde(skip_serializing_if = "is_zero")]
            amount: u64,
        },
        Closed(Closed),
    }

    fn is_zero(value: &u64) -> bool {
        *value == 0
    }

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(aggregate = "Account")]
    pub struct Closed {
        #[event(id)]
        pub account_id: ::std::string::String,
    }

    #[derive(Debug)]
    pub struct BankError;

    impl ::core::fmt::Display for BankError {
        fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
            f.write_str("bank error")
        }
    }

    impl ::std::error::Error for BankError {}

    pub struct Open(pub ::std::string::String);
    pub struct Deposit(pub u64);

    #[derive(::core::default::Default)]
    pub struct Account {
        pub open: bool,
        pub balance: u64,
    }

    #[aggregate(events = AccountEvent, error = BankError)]
    impl Account {
        #[command]
        fn open(
            &self,
            Open(who): Open,
            ctx: &CommandContext<'_>,
        ) -> ::core::result::Result<AccountEvent, BankError> {
            ::core::result::Result::Ok(AccountEvent::Opened {
                account_id: ctx.aggregate_id.into(),
                owner: who,
            })
        }

        #[command]
        fn deposit(
            &self,
            Deposit(value): Deposit,
        ) -> ::core::result::Result<::std::vec::Vec<AccountEvent>, BankError> {
            ::core::result::Result::Ok(::std::vec![AccountEvent::Deposited {
                account_id: "acc-1".into(),
                amount: value,
            }])
        }

        #[apply(Opened)]
        fn opened(&mut self) {
            self.open = true;
        }

        #[apply(Deposited)]
        fn deposited(&mut self, amount: &u64) {
            self.balance += amount;
        }

        #[apply]
        fn closed(&mut self, _closed: &Closed) {
            self.open = false;
        }
    }

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(aggregate = "Shelf")]
    pub enum ShelfEvent<T> {
        Stocked {
            #[event(id)]
            shelf_id: ::std::string::String,
            item: T,
        },
    }

    pub struct Stock<T>(pub T);

    #[derive(::core::default::Default)]
    pub struct Shelf<T> {
        pub items: ::std::vec::Vec<T>,
    }

    #[aggregate(events = ShelfEvent<T>, error = GenericError<T>)]
    impl<T> Shelf<T>
    where
        T: Clone + ::core::fmt::Debug,
    {
        #[command]
        fn stock(
            &self,
            Stock(item): Stock<T>,
        ) -> ::core::result::Result<ShelfEvent<T>, GenericError<T>> {
            ::core::result::Result::Ok(ShelfEvent::Stocked {
                shelf_id: "s-1".into(),
                item,
            })
        }

        #[apply(Stocked)]
        fn stocked(&mut self, item: &T) {
            self.items.push(item.clone());
        }
    }

    #[derive(Debug)]
    pub struct GenericError<T>(pub T);

    impl<T> ::core::fmt::Display for GenericError<T> {
        fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
            f.write_str("generic error")
        }
    }

    impl<T: ::core::fmt::Debug> ::std::error::Error for GenericError<T> {}
}

use cim_events::{Aggregate, CommandContext, Event, EventHeader, Handle};
use shadowed::{Account, AccountEvent, Closed, Deposit, Open, Shelf, ShelfEvent, Stock};

fn main() {
    let header = EventHeader::default();
    let ctx = CommandContext {
        aggregate_id: "acc-1",
        version: 0,
        header: &header,
    };
    let mut account = Account::default();
    for event in account.handle(Open("Alice".into()), &ctx).unwrap() {
        account.apply(&event);
    }
    for event in account.handle(Deposit(5), &ctx).unwrap() {
        let payload = event.to_payload().unwrap();
        assert_eq!(
            AccountEvent::from_payload(event.event_type(), 1, payload).unwrap(),
            event
        );
        account.apply(&event);
    }
    account.apply(&AccountEvent::Closed(Closed {
        account_id: "acc-1".into(),
    }));
    assert!(!account.open);
    assert_eq!(account.balance, 5);
    assert_eq!(AccountEvent::EVENT_TYPES, ["Opened", "Deposited", "Closed"]);

    let mut shelf = Shelf::<u8>::default();
    for event in shelf.handle(Stock(7u8), &ctx).unwrap() {
        assert_eq!(event.subject("events"), "events.s-1.Stocked");
        shelf.apply(&event);
    }
    assert_eq!(shelf.items, [7]);
    assert_eq!(ShelfEvent::<u8>::EVENT_TYPES, ["Stocked"]);
    assert_eq!(<Shelf<u8> as Aggregate>::AGGREGATE_TYPE, "Shelf");
}
