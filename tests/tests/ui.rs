//! Compile-time checks of the macros: every `tests/ui/<macro>/*.rs` case must fail to
//! compile with exactly the error in its `.stderr`; every `tests/ui/pass/*.rs` case must
//! compile and run. Regenerate the `.stderr` files with `TRYBUILD=overwrite` and read
//! them line by line.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/event/*.rs");
    cases.compile_fail("ui/aggregate/*.rs");
    cases.compile_fail("ui/process/*.rs");
    cases.pass("ui/pass/*.rs");
}
