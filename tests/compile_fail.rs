//! Identity boundaries are enforced by the compiler: each file in `tests/compile-fail/` is
//! code that must not build, with the error it must fail with.

#[test]
fn identity_boundaries_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/compile-fail/*.rs");
}
