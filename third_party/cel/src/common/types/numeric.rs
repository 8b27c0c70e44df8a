//! vf-post: equality across CEL's numeric types, as cel-go (so Kubernetes) evaluates it:
//! `1 == 1.0` and `1u == 1` are true. An int or a uint meets a double as a double, as in
//! cel-go's `compareDoubleInt` (the CEL specification asks for exact values, cel-go rounds), so
//! `9007199254740993 == 9007199254740992.0` is true, as `<` and `>` already had it; an int and
//! a uint compare exactly. Found by an attack on numbers: exact equality had let a policy
//! decide otherwise than the API server.

use super::{CelDouble, CelInt, CelUInt};
use crate::common::value::Val;

/// A number of any of CEL's numeric types.
#[derive(Clone, Copy)]
enum Number {
    Int(i64),
    UInt(u64),
    Double(f64),
}

fn number(value: &dyn Val) -> Option<Number> {
    if let Some(i) = value.downcast_ref::<CelInt>() {
        return Some(Number::Int(*i.inner()));
    }
    if let Some(u) = value.downcast_ref::<CelUInt>() {
        return Some(Number::UInt(*u.inner()));
    }
    value
        .downcast_ref::<CelDouble>()
        .map(|d| Number::Double(*d.inner()))
}

/// Whether two values are equal numbers; false if either is no number.
pub(crate) fn equal(a: &dyn Val, b: &dyn Val) -> bool {
    let (Some(a), Some(b)) = (number(a), number(b)) else {
        return false;
    };
    match (a, b) {
        (Number::Int(a), Number::Int(b)) => a == b,
        (Number::UInt(a), Number::UInt(b)) => a == b,
        (Number::Double(a), Number::Double(b)) => a == b,
        (Number::Int(i), Number::UInt(u)) | (Number::UInt(u), Number::Int(i)) => {
            u64::try_from(i).is_ok_and(|i| i == u)
        }
        // cel-go: beyond the int's range, unequal; within it, compared as doubles. NaN is
        // never equal (every comparison with it is false).
        (Number::Int(i), Number::Double(d)) | (Number::Double(d), Number::Int(i)) => {
            (i64::MIN as f64..=i64::MAX as f64).contains(&d) && d == i as f64
        }
        (Number::UInt(u), Number::Double(d)) | (Number::Double(d), Number::UInt(u)) => {
            (0.0..=u64::MAX as f64).contains(&d) && d == u as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_equal_across_types_by_value() {
        let int = |i: i64| CelInt::from(i);
        assert!(equal(&int(1), &CelDouble::from(1.0)));
        assert!(equal(&CelUInt::from(1u64), &int(1)));
        assert!(!equal(&int(-1), &CelUInt::from(u64::MAX)));
        // As cel-go: the int becomes a double.
        assert!(equal(&int(9_007_199_254_740_993), &CelDouble::from(9_007_199_254_740_992.0)));
        assert!(equal(&int(i64::MAX), &CelDouble::from(9_223_372_036_854_775_808.0)));
        assert!(!equal(&int(i64::MAX), &CelDouble::from(1e19)));
        assert!(equal(&CelUInt::from(u64::MAX), &CelDouble::from(18_446_744_073_709_551_616.0)));
        assert!(!equal(&CelUInt::from(0u64), &CelDouble::from(-0.5)));
        assert!(!equal(&int(1), &CelDouble::from(f64::NAN)));
        assert!(!equal(&int(1), &CelDouble::from(1.5)));
    }
}
