//! One atomic operation = one transaction: `in_tx!(data, conn => op(conn, ..).await)`
//! begins a transaction on the pool, runs the operation on its connection, and commits
//! when it returns Ok (an Err, or a panic, rolls back when the transaction is dropped).

/// Runs `$body` (an expression awaiting on `$conn: &mut PgConnection`) in one
/// transaction on `$data`'s runtime, from a blocking thread.
macro_rules! in_tx {
    ($data:expr, $conn:ident => $body:expr) => {
        $data.run(async {
            let mut tx = $data.pool().begin().await?;
            let out = {
                let $conn: &mut ::sqlx_postgres::PgConnection = &mut tx;
                $body?
            };
            tx.commit().await?;
            Ok(out)
        })
    };
}
