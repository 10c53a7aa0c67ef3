//! The two forms of a `#[command]` handler, and the command types the macro writes.
//!
//! - **Written**: `fn deposit(&self, command: Deposit)`. The one parameter (besides an
//!   optional context) is a command type the user wrote: its type is named after the
//!   handler (`deposit` → `Deposit`), or the parameter destructures it
//!   (`Deposit(amount): Deposit`) or is named `command`, `cmd` or `_`.
//! - **Generated**: anything else, e.g. `fn deposit(&self, amount: u64)`. The parameters
//!   (besides an optional `&CommandContext<'_>`) are the command's fields, and the macro
//!   writes the command type `account::Deposit { amount }` in a module named after the
//!   aggregate (or `commands = …`), deriving `Debug` and `Clone` (the repository clones a
//!   command to decide it again after a conflict).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::{Ident, ImplItemFn, Pat, PatType, Type, Visibility};

use crate::names::{snake_case, unraw};

/// How a `#[command]` takes its command.
pub enum Form<'a> {
    /// The user's command type, and the context parameter if any.
    Written {
        ty: &'a Type,
        ctx: Option<&'a PatType>,
    },
    /// A command type the macro writes from the parameters.
    Generated {
        /// `Deposit`, from `fn deposit`.
        name: Ident,
        /// The parameters in order: fields and (at most one valid) context.
        params: Vec<Param<'a>>,
    },
}

/// One parameter of a generated-form handler.
pub enum Param<'a> {
    /// A field of the command: its name (from the pattern) and the parameter.
    Field(Ident, &'a PatType),
    /// The `&CommandContext<'_>` parameter.
    Context(&'a PatType),
}

impl<'a> Form<'a> {
    /// Reads the form of `method` whose parameters after `&self` are `params`.
    pub fn of(method: &ImplItemFn, params: &[&'a PatType]) -> Form<'a> {
        let name = command_name(&method.sig.ident);
        if let [first, rest @ ..] = params {
            if !is_context(&first.ty)
                && (names_type(&first.ty, &name) || takes_a_command(&first.pat))
            {
                return Form::Written {
                    ty: &first.ty,
                    ctx: rest.first().copied(),
                };
            }
        }
        let params = params
            .iter()
            .map(|p| {
                if is_context(&p.ty) {
                    Param::Context(p)
                } else {
                    Param::Field(field_name(&p.pat), p)
                }
            })
            .collect();
        Form::Generated { name, params }
    }

    /// The command type, as the impls name it (`module::Name` for a generated one).
    pub fn command_ty(&self, module: &Ident) -> Type {
        match self {
            Form::Written { ty, .. } => (*ty).clone(),
            Form::Generated { name, .. } => syn::parse_quote!(#module::#name),
        }
    }
}

/// `deposit_all` → `DepositAll`, the command a handler's name gives.
pub fn command_name(method: &Ident) -> Ident {
    let pascal: String = unraw(method)
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect::<String>()
            })
        })
        .collect();
    Ident::new(
        if pascal.is_empty() {
            "Command"
        } else {
            &pascal
        },
        method.span(),
    )
}

/// The module the generated commands go in: `commands = …`, or the aggregate's type
/// name in snake case (`Account` → `account`).
pub fn module_name(explicit: Option<&Ident>, self_ty: &Type) -> Ident {
    if let Some(ident) = explicit {
        return ident.clone();
    }
    let name = match self_ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map_or_else(|| "commands".to_owned(), |s| snake_case(&unraw(&s.ident))),
        _ => "commands".to_owned(),
    };
    syn::parse_str::<Ident>(&name).unwrap_or_else(|_| Ident::new_raw(&name, Span::call_site()))
}

/// Whether `ty` is `&CommandContext<'_>` (by any path).
pub fn is_context(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => matches!(&*r.elem, Type::Path(p)
            if p.path.segments.last().is_some_and(|s| s.ident == "CommandContext")),
        _ => false,
    }
}

/// Whether `ty` (or what it references) is a path whose last segment is `name`.
fn names_type(ty: &Type, name: &Ident) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == *name),
        Type::Reference(r) => names_type(&r.elem, name),
        Type::Paren(p) => names_type(&p.elem, name),
        Type::Group(g) => names_type(&g.elem, name),
        _ => false,
    }
}

/// Whether a parameter pattern says it takes a whole command: it takes a type apart
/// (`Deposit(amount)`, `Open { owner }`), which only a type the user wrote allows, or it
/// is named like one (`command`, `cmd`, `_`).
fn takes_a_command(pat: &Pat) -> bool {
    match pat {
        Pat::TupleStruct(_) | Pat::Struct(_) | Pat::Wild(_) => true,
        Pat::Ident(i) => {
            matches!(unraw(&i.ident).trim_start_matches('_'), "command" | "cmd")
        }
        _ => false,
    }
}

/// The field a parameter pattern names: `amount` for `amount`, `mut amount` or
/// `_amount`'s `_amount`; `field` for a pattern that names none (an error in `valid`).
fn field_name(pat: &Pat) -> Ident {
    match pat {
        Pat::Ident(i) => i.ident.clone(),
        _ => Ident::new("field", Span::call_site()),
    }
}

/// The visibility of a generated command (and its fields): seen where the handler is.
/// The type lives one module down, so a private handler's command is `pub(super)`.
fn item_visibility(handler: &Visibility) -> TokenStream {
    match handler {
        Visibility::Public(_) => quote!(pub),
        Visibility::Inherited => quote!(pub(super)),
        // `pub(crate)`, and `pub(super)`/`pub(in …)` widened to it: those paths would name
        // other modules from one level down.
        Visibility::Restricted(_) => quote!(pub(crate)),
    }
}

/// The module's visibility: the widest of its commands'.
fn module_visibility<'v>(handlers: impl Iterator<Item = &'v Visibility>) -> TokenStream {
    let mut widest = quote!();
    for vis in handlers {
        match vis {
            Visibility::Public(_) => return quote!(pub),
            Visibility::Restricted(_) => widest = quote!(pub(crate)),
            Visibility::Inherited => {}
        }
    }
    widest
}

/// What keeps a parameter from being a field of a generated command.
pub enum FieldProblem<'a> {
    /// A pattern that names no field (`(a, b): (u32, u32)`).
    Unnamed(&'a Pat),
    /// A borrowed type: a command owns its fields.
    Borrowed(&'a syn::TypeReference),
    /// `impl Trait`: a field needs a concrete type.
    ImplTrait(&'a syn::TypeImplTrait),
    /// A type naming the aggregate's generic parameters, which the command does not have.
    Generic(&'a Type),
}

/// The problems of field parameter `param`, given the aggregate's generic parameter
/// names: `valid` reports them, and the fallback writes only commands without any.
pub fn field_problems<'a>(param: &'a PatType, generics: &[String]) -> Vec<FieldProblem<'a>> {
    let mut problems = Vec::new();
    if !matches!(&*param.pat, Pat::Ident(i) if i.by_ref.is_none() && i.subpat.is_none()) {
        problems.push(FieldProblem::Unnamed(&param.pat));
    }
    match &*param.ty {
        Type::Reference(r) => problems.push(FieldProblem::Borrowed(r)),
        Type::ImplTrait(t) => problems.push(FieldProblem::ImplTrait(t)),
        ty if crate::valid::mentions(&ty.to_token_stream(), generics) => {
            problems.push(FieldProblem::Generic(ty));
        }
        _ => {}
    }
    problems
}

/// Whether a generated command can be written at all: no field has a problem.
pub fn is_sound(params: &[Param<'_>], generics: &[String]) -> bool {
    params.iter().all(|p| match p {
        Param::Context(_) => true,
        Param::Field(_, p) => field_problems(p, generics).is_empty(),
    })
}

/// One generated command to write: its handler and form.
pub struct Generated<'a> {
    pub method: &'a ImplItemFn,
    pub name: &'a Ident,
    pub params: &'a [Param<'a>],
}

/// The module of generated command types, next to the impl (empty when there are none).
pub fn module(module: &Ident, aggregate: &str, commands: &[Generated<'_>]) -> TokenStream {
    if commands.is_empty() {
        return TokenStream::new();
    }
    let vis = module_visibility(commands.iter().map(|c| &c.method.vis));
    let items = commands.iter().map(|command| {
        let item_vis = item_visibility(&command.method.vis);
        let handler = unraw(&command.method.sig.ident);
        let name = command.name;
        let doc = format!(
            "The `{name}` command of `{aggregate}`, written by `#[command]` from the parameters of `{aggregate}::{handler}`."
        );
        let fields: Vec<TokenStream> = command
            .params
            .iter()
            .filter_map(|p| match p {
                Param::Field(field, param) => {
                    let ty = &param.ty;
                    let doc = format!("The `{}` parameter of `{handler}`.", unraw(field));
                    Some(quote!(#[doc = #doc] #item_vis #field: #ty))
                }
                Param::Context(_) => None,
            })
            .collect();
        let body = if fields.is_empty() {
            quote!(;)
        } else {
            quote!({ #(#fields,)* })
        };
        // Spanned at the handler: a field type that is not `Clone` or `Debug` is reported
        // there, where the parameter is.
        let derive = quote_spanned! {command.method.sig.ident.span()=>
            #[derive(::core::fmt::Debug, ::core::clone::Clone)]
        };
        quote! {
            #[doc = #doc]
            #derive
            #item_vis struct #name #body
        }
    });
    let doc =
        format!("The commands of `{aggregate}` that its `#[command]` handlers take as parameters.");
    quote! {
        #[doc = #doc]
        #vis mod #module {
            #[allow(unused_imports)]
            use super::*;
            #(#items)*
        }
    }
}

/// The body of a generated command's `Handle::handle`: take the command apart and call
/// the handler with its fields (and the context) in the handler's order.
pub fn call(method: &Ident, ty: &Type, params: &[Param<'_>]) -> TokenStream {
    let fields = params.iter().filter_map(|p| match p {
        Param::Field(field, _) => Some(field),
        Param::Context(_) => None,
    });
    let args = params.iter().map(|p| match p {
        Param::Field(field, _) => quote!(#field),
        Param::Context(param) => {
            let ty = &param.ty;
            quote!(<#ty as ::cim_events::__private::ContextParam<'_>>::from_context(__ctx))
        }
    });
    quote! {
        let #ty { #(#fields,)* } = __command;
        Self::#method(self, #(#args),*)
    }
}
