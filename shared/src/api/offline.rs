//! The bank's offline (CAFE) endpoints, `OFFLINE.md`.

use super::{Endpoint, EndpointInfo, Method, json};
use crate::error::ErrorCode;
use crate::offline::messages::{
    CollateralRequest, OfflineBlindSignature, OfflineChallenge, OfflineDepositReceipt,
    OfflineDepositRequest, OfflineOpenRequest, OfflineQuery, OfflineStanding,
    OfflineWithdrawRequest,
};
use crate::signing::Signed;

endpoint!(
    /// `POST /offline/standing`: an account's collateral, allowance and next counter.
    OfflineStandingOf, (), Signed<OfflineQuery> => OfflineStanding,
    json(
        "offline_standing",
        Method::Post,
        "/offline/standing",
        "An account's offline collateral, allowance in use, freeze and next identity counter",
        &[
            ErrorCode::BadSignature,
            ErrorCode::StaleRequest,
            ErrorCode::UnknownAccount,
            ErrorCode::OfflineRefused,
        ],
    )
);

endpoint!(
    /// `POST /offline/collateral`: lock balance as collateral, or release it.
    OfflineCollateral, (), Signed<CollateralRequest> => OfflineStanding,
    EndpointInfo {
        description: "The allowance is the collateral: offline coins withdrawn and not past \
            their key's deposit window never exceed it. Collateral backing such coins is \
            released only once that window closes, when the bank has seen every deposit \
            that could name a double spender.",
        ..json(
            "offline_collateral",
            Method::Post,
            "/offline/collateral",
            "Lock or release offline collateral",
            &[
                ErrorCode::InvalidField,
                ErrorCode::BadSignature,
                ErrorCode::UnknownAccount,
                ErrorCode::InsufficientFunds,
                ErrorCode::OfflineRefused,
                ErrorCode::RequestIdReused,
            ],
        )
    }
);

endpoint!(
    /// `POST /offline/withdraw`: round 1, the blinded candidates.
    OfflineWithdraw, (), Signed<OfflineWithdrawRequest> => OfflineChallenge,
    EndpointInfo {
        description: "80 blinded candidates under the identity of the account's next \
            counter; the bank stores them and answers which 40 to open. The same request id \
            and body always get the same choice; a withdrawal begun and not finished counts \
            against the account (at most 4 per period).",
        ..json(
            "offline_withdraw",
            Method::Post,
            "/offline/withdraw",
            "Begin an offline withdrawal (cut and choose)",
            &[
                ErrorCode::InvalidField,
                ErrorCode::InvalidCoin,
                ErrorCode::BadSignature,
                ErrorCode::UnknownAccount,
                ErrorCode::UnknownKey,
                ErrorCode::KeyExpired,
                ErrorCode::KeyRevoked,
                ErrorCode::OfflineRefused,
                ErrorCode::RequestIdReused,
            ],
        )
    }
);

endpoint!(
    /// `POST /offline/withdraw/open`: round 2, the chosen candidates opened.
    OfflineOpen, (), Signed<OfflineOpenRequest> => OfflineBlindSignature,
    EndpointInfo {
        description: "The bank recomputes every opened candidate with its own identity, then \
            signs the product of the other 40 with one private-key operation and debits the \
            coin's value, once. Openings that do not match close the withdrawal.",
        ..json(
            "offline_open",
            Method::Post,
            "/offline/withdraw/open",
            "Finish an offline withdrawal",
            &[
                ErrorCode::InvalidCoin,
                ErrorCode::BadSignature,
                ErrorCode::UnknownAccount,
                ErrorCode::InsufficientFunds,
                ErrorCode::KeyExpired,
                ErrorCode::OfflineRefused,
                ErrorCode::RequestIdReused,
                ErrorCode::InProgress,
            ],
        )
    }
);

endpoint!(
    /// `POST /offline/deposit`: a payee's batch of spend transcripts.
    OfflineDeposit, (), Signed<OfflineDepositRequest> => Signed<OfflineDepositReceipt>,
    EndpointInfo {
        description: "Every transcript is checked as the payee did (challenge, order, \
            signature, key window, payee); a bad one refuses the batch and nothing changes. \
            A coin's first deposit is credited; a second spend (or a term seen in another \
            coin) names the double spender, whose collateral pays this payee as far as it \
            goes and whose allowance is frozen, atomically with the deposit.",
        ..json(
            "offline_deposit",
            Method::Post,
            "/offline/deposit",
            "Deposit offline payments in a batch",
            &[
                ErrorCode::InvalidField,
                ErrorCode::InvalidCoin,
                ErrorCode::TooManyCoins,
                ErrorCode::BadSignature,
                ErrorCode::UnknownAccount,
                ErrorCode::UnknownKey,
                ErrorCode::KeyExpired,
                ErrorCode::KeyRevoked,
                ErrorCode::OfflineRefused,
                ErrorCode::RequestIdReused,
            ],
        )
    }
);
