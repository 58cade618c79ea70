package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/storage/stream/webhook"
)

// A receiver checks each request's signature against the raw body before
// it decodes it, and refuses what does not verify.
func ExampleVerifyRequest() {
	secret := []byte("a secret of at least 32 bytes...")
	receive := func(w http.ResponseWriter, r *http.Request) {
		body, err := webhook.VerifyRequest(r, secret, 5*time.Minute, 0)
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// Decode body into a stream.Payload; drop a repeated Idempotency-Key.
		fmt.Fprintf(w, "got %d bytes for event %s", len(body), r.Header.Get(webhook.HeaderIdempotency))
	}
	send := func(sig string) string {
		body := `{"event":{"id":"e1"}}`
		r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
		r.Header.Set(webhook.HeaderIdempotency, "e1")
		if sig == "" {
			sig = webhook.Sign(secret, []byte(body), time.Now())
		}
		r.Header.Set(webhook.HeaderSignature, sig)
		w := httptest.NewRecorder()
		receive(w, r)
		out, _ := io.ReadAll(w.Result().Body)
		return fmt.Sprint(w.Code, " ", strings.TrimSpace(string(out)))
	}
	fmt.Println(send(""))
	fmt.Println(send("t=1700000000,v1=00"))
	// Output:
	// 200 got 21 bytes for event e1
	// 401 bad signature
}
