//! Error collection: every check reports into a [`Ctxt`], so the user sees all their
//! mistakes at once, each at its own token (after serde's `Ctxt`).

use std::cell::RefCell;
use std::fmt::Display;

use quote::ToTokens;

/// Collects errors while a macro parses and checks its input.
#[derive(Default)]
pub struct Ctxt {
    errors: RefCell<Vec<syn::Error>>,
}

impl Ctxt {
    pub fn new() -> Self {
        Ctxt::default()
    }

    /// Records an error at the tokens of `at`.
    pub fn error_at<T: ToTokens, M: Display>(&self, at: T, message: M) {
        self.push(syn::Error::new_spanned(at, message));
    }

    /// Records an error at one span.
    pub fn error_span<M: Display>(&self, span: proc_macro2::Span, message: M) {
        self.push(syn::Error::new(span, message));
    }

    /// Records an error built elsewhere (a syntax error from `syn`, say).
    pub fn push(&self, error: syn::Error) {
        self.errors.borrow_mut().push(error);
    }

    /// All errors recorded, combined into one, or `Ok` when there are none.
    pub fn check(self) -> syn::Result<()> {
        let mut errors = self.errors.into_inner().into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for error in errors {
            combined.combine(error);
        }
        Err(combined)
    }
}

/// The messages of the `compile_error!`s in a macro's output, in order.
#[cfg(test)]
pub fn compile_errors(tokens: &proc_macro2::TokenStream) -> Vec<String> {
    let file: syn::File = syn::parse2(tokens.clone()).expect("the output parses as items");
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Macro(m)
                if m.mac
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "compile_error") =>
            {
                Some(
                    m.mac
                        .parse_body::<syn::LitStr>()
                        .expect("a message")
                        .value(),
                )
            }
            _ => None,
        })
        .collect()
}
