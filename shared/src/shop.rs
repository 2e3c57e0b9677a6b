//! What a shop and its buyers exchange beside the payment itself: the
//! catalogue, orders, the goods, and the shop keeper's list of orders.

use serde::{Deserialize, Serialize};

use crate::amount::Amount;
use crate::bytes::B32;
use crate::messages::Receipt;
use crate::signing::Signed;

/// How goods are shown to the buyer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum GoodsKind {
    /// Text, shown as text.
    Text,
    /// An SVG image, shown as an image (never as markup in the page).
    SvgImage,
}

/// One item for sale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Item {
    /// Stable id used in URLs.
    pub id: String,
    /// Name.
    pub title: String,
    /// One line; the order's description (whose hash goes into payment_info) starts with the title.
    pub description: String,
    /// Price.
    pub price: Amount,
    /// What the goods are.
    pub kind: GoodsKind,
}

/// `POST /api/orders` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NewOrder {
    /// Item to buy.
    pub item_id: String,
}

/// `POST /api/orders/{payreq_id}/goods` body: the goods key, in a body and
/// never in a URL, since it is what the goods are handed over for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GoodsRequest {
    /// [`crate::messages::goods_key`] of the payment's payer code (from the
    /// wallet's fulfillment link fragment). Not the payment id: the bank
    /// knows that one.
    pub goods_key: B32,
}

/// The goods of a paid order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Delivery {
    /// The item's title.
    pub title: String,
    /// What `goods` is.
    pub kind: GoodsKind,
    /// The goods: text, or an SVG document.
    pub goods: String,
    /// The shop's receipt for them.
    pub receipt: Signed<Receipt>,
}

/// Where an order stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Waiting for a payment.
    Open,
    /// A payment for it is at the bank right now, or its outcome is unknown.
    Paying,
    /// Paid.
    Paid,
    /// Expired unpaid.
    Expired,
}

/// One order, as the shop keeper sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OrderSummary {
    /// The payment request id.
    pub payreq_id: String,
    /// The item.
    pub item_id: String,
    /// Its title.
    pub title: String,
    /// The price.
    pub amount: Amount,
    /// When ordered, unix seconds.
    pub created_at: u64,
    /// When the payment request expires, unix seconds.
    pub expires_at: u64,
    /// Where it stands.
    pub state: OrderState,
    /// When paid, unix seconds.
    pub paid_at: Option<u64>,
}

/// `GET /api/admin/orders`: the newest orders first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OrderList {
    /// The orders (at most [`ORDER_LIST_MAX`], newest first).
    pub orders: Vec<OrderSummary>,
    /// Orders paid, in all.
    pub paid: u64,
    /// Their value, in minor units.
    pub paid_value: u64,
}

/// Most orders one order list shows.
pub const ORDER_LIST_MAX: usize = 200;
