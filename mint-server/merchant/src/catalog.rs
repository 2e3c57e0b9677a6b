//! What the demo shop sells: a few digital goods.

use ecash_core::shop::{GoodsKind, Item};
use ecash_core::{Amount, Currency};

/// One item for sale, with its goods.
#[derive(Debug, Clone, Copy)]
pub struct Product {
    /// Stable id used in URLs.
    pub id: &'static str,
    /// Name.
    pub title: &'static str,
    /// One line.
    pub description: &'static str,
    /// Price in minor units of the bank's currency.
    pub price: u64,
    /// What the goods are.
    pub kind: GoodsKind,
    /// The goods, delivered after the bank's ack.
    pub goods: &'static str,
}

impl Product {
    /// The catalogue entry, priced in `currency`.
    pub fn item(&self, currency: &Currency) -> Item {
        Item {
            id: self.id.into(),
            title: self.title.into(),
            description: self.description.into(),
            price: Amount::new(currency.clone(), self.price),
            kind: self.kind,
        }
    }

    /// What a payment request for it describes, with the order's reference
    /// `reference`. Its hash is in `payment_info`, which the bank reads: the
    /// reference, random and never shown to the bank, keeps the bank from
    /// matching the hash against the public catalogue.
    pub fn order_description(&self, reference: &str) -> String {
        format!("{}: {} (ref {reference})", self.title, self.description)
    }
}

/// The catalogue.
pub const PRODUCTS: &[Product] = &[
    Product {
        id: "haiku",
        title: "A haiku on blind signatures",
        description: "Seventeen syllables, signed unseen.",
        price: 25,
        kind: GoodsKind::Text,
        goods: "The bank signs in fog —\nserial hidden, value clear.\nSpent once, then no more.",
    },
    Product {
        id: "notes",
        title: "Lecture notes: Chaum's Ecash",
        description: "A one-page summary of chapter 6.1: coins, keys, forgery, double spending.",
        price: 150,
        kind: GoodsKind::Text,
        goods: "Ecash in one page: the wallet picks a large random serial, blinds it, the bank signs \
                with the key of the coin's value without seeing it, the wallet unblinds. A one-way \
                redundancy function on the serial defeats the S = R^e forgery. The bank keeps every \
                deposited serial; a second deposit is refused. Keys expire to keep that list small.",
    },
    Product {
        id: "sticker",
        title: "Sticker: 'I paid anonymously'",
        description: "An SVG sticker for your laptop.",
        price: 99,
        kind: GoodsKind::SvgImage,
        goods: "<svg xmlns='http://www.w3.org/2000/svg' width='240' height='60' viewBox='0 0 240 60'>\
                <rect width='240' height='60' rx='12' fill='#0b5d3b'/><text x='120' y='37' \
                font-size='18' fill='#fff' text-anchor='middle' font-family='sans-serif'>I paid \
                anonymously</text></svg>",
    },
    Product {
        id: "coffee",
        title: "A coffee for the mint operator",
        description: "Keeps the mint signing through the night.",
        price: 300,
        kind: GoodsKind::Text,
        goods: "Thank you! The mint operator raises a cup to your anonymity.",
    },
];

/// The product with this id.
pub fn product(id: &str) -> Option<&'static Product> {
    PRODUCTS.iter().find(|p| p.id == id)
}

/// Its title, or the id of an item no longer sold.
pub fn title(id: &str) -> String {
    product(id).map_or_else(|| id.to_owned(), |p| p.title.to_owned())
}
