// jit_login from Go with pgx v4.
//
//	go run login.go CONNSTRING [TOKEN]      (or the token in $JIT_TOKEN)
//
// Prints one JSON line: the user, their groups and the notes that row-level
// security lets them see; or, for a refused token, the SQLSTATE and reason
// code (exit status 2).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
)

type note struct {
	Owner string `json:"owner"`
	Body  string `json:"body"`
}

func main() {
	ctx := context.Background()
	connString := os.Getenv("DATABASE_URL")
	if len(os.Args) > 1 {
		connString = os.Args[1]
	}
	// A token on the command line shows in `ps`; the environment does not.
	token := os.Getenv("JIT_TOKEN")
	if len(os.Args) > 2 {
		token = os.Args[2]
	}
	body := "hello from go"
	if v, ok := os.LookupEnv("NOTE"); ok {
		body = v
	}

	conn, err := pgx.Connect(ctx, connString)
	check(err)
	defer conn.Close(ctx)

	// One transaction: the identity jit_login establishes lives exactly as
	// long as it, so login, insert and select must all use tx.
	tx, err := conn.Begin(ctx)
	check(err)
	defer tx.Rollback(ctx) // no-op after Commit

	// pgx prepares the statement (a named server-side statement, cached per
	// connection) and sends the token as a bound parameter.
	var userID string
	var groups []string
	err = tx.QueryRow(ctx, "select user_id, groups from jit_login($1)", token).Scan(&userID, &groups)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "28000" {
		// SQLSTATE 28000: the token was refused. The message starts with a
		// stable reason code: "replayed: ...".
		reason := strings.SplitN(pgErr.Message, ":", 2)[0]
		out, _ := json.Marshal(map[string]string{"sqlstate": pgErr.Code, "reason": reason, "message": pgErr.Message})
		fmt.Println(string(out))
		tx.Rollback(ctx)
		conn.Close(ctx)
		os.Exit(2)
	}
	check(err)

	// `owner` defaults to jit.current_user_id(); the policy checks it.
	_, err = tx.Exec(ctx, "insert into notes (body) values ($1)", body)
	check(err)
	rows, err := tx.Query(ctx, "select owner::text, body from notes order by id")
	check(err)
	notes := []note{}
	for rows.Next() {
		var n note
		check(rows.Scan(&n.Owner, &n.Body))
		notes = append(notes, n)
	}
	check(rows.Err())
	check(tx.Commit(ctx))

	out, err := json.Marshal(map[string]interface{}{"user_id": userID, "groups": groups, "notes": notes})
	check(err)
	fmt.Println(string(out))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
