package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/marginschool/margin/pkg/errs"
)

// Argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// Password length bounds. The upper bound keeps hashing cheap for attackers'
// megabyte "passwords".
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
)

// hashPassword returns a PHC-format argon2id hash.
func hashPassword(pw string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// checkPassword reports whether pw matches a hash made by hashPassword, in
// time independent of where they differ.
func checkPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// common holds passwords that pass the length rule but are guessed first.
var common = map[string]bool{
	"password123": true, "password1234": true, "1234567890": true, "12345678910": true,
	"qwertyuiop": true, "1q2w3e4r5t": true, "iloveyou123": true, "passw0rd123": true,
	"letmein1234": true, "welcome123": true, "abc1234567": true, "0987654321": true,
	"aaaaaaaaaa": true, "teacher123": true, "student123": true, "margin1234": true,
}

// CheckPasswordStrength returns a WeakPassword error naming the rule a
// password breaks, or nil.
func CheckPasswordStrength(pw, email string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPasswordLen:
		return errs.F(errs.WeakPassword, "password", "The password must be at least %d characters long.", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return errs.F(errs.WeakPassword, "password", "The password must be at most %d bytes long.", MaxPasswordLen)
	case common[strings.ToLower(pw)]:
		return errs.F(errs.WeakPassword, "password", "That password is one of the most common; choose another.")
	case email != "" && strings.EqualFold(pw, email):
		return errs.F(errs.WeakPassword, "password", "The password must not be your email address.")
	case allSame(pw):
		return errs.F(errs.WeakPassword, "password", "The password must not repeat one character.")
	}
	return nil
}

func allSame(s string) bool {
	for i := 1; i < len(s); i++ {
		if s[i] != s[0] {
			return false
		}
	}
	return true
}
