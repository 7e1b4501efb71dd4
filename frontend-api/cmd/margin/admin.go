package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/marginschool/margin/pkg/account"
)

// adminCreate creates a user from the command line. The password comes from
// standard input (--password-stdin) or is generated and printed once.
func adminCreate(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("admin create", flag.ContinueOnError)
	email := fs.String("email", "", "the user's email (required)")
	role := fs.String("role", "admin", "admin, teacher or grader")
	name := fs.String("name", "", "display name (default: the part of the email before @)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("admin create: --email is required")
	}
	if *name == "" {
		*name, _, _ = strings.Cut(*email, "@")
	}
	password := ""
	if *fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("admin create: read password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	} else {
		password = account.NewToken()[:24]
	}

	d, err := open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer d.close(context.WithoutCancel(ctx))
	u, err := d.accounts.Create(ctx, *email, password, *name, account.Role(*role), "")
	if err != nil {
		return fmt.Errorf("admin create: %w", err)
	}
	fmt.Fprintf(stdout, "Created %s %s (%s).\n", u.Role, u.Email, u.ID)
	if !*fromStdin {
		fmt.Fprintf(stdout, "Password (shown once): %s\n", password)
	}
	return nil
}
