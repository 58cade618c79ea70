package main

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// upload posts a file to an incident as the browser.
func (b *browser) upload(id, name, ctype string, content []byte) response {
	b.d.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	require.NoError(b.d.t, mw.WriteField("csrf", b.csrf()))
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="`+name+`"`)
	h.Set("Content-Type", ctype)
	part, err := mw.CreatePart(h)
	require.NoError(b.d.t, err)
	_, _ = part.Write(content)
	require.NoError(b.d.t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, b.d.url+"/incidents/"+id+"/attachments", &buf)
	require.NoError(b.d.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

// A caller attaches a file to his incident; the agent downloads it; bad
// names, types and sizes are refused with nothing written; another caller
// cannot read it.
func TestAttachments(t *testing.T) {
	d := newDesk(t)
	carl := d.as("carl")
	id := d.seeded.Incident
	r := carl.upload(id, "error.txt", "text/plain", []byte("Outlook error 0x800"))
	require.Equal(t, http.StatusSeeOther, r.status, text(r.body))
	page := d.as("ann").get("/incidents/" + id).body
	m := regexp.MustCompile(`href="(/attachments/[^"]+)">error.txt</a>`).FindStringSubmatch(page)
	require.NotNil(t, m, "listed on the incident")
	got := d.as("ann").get(m[1])
	assert.Equal(t, http.StatusOK, got.status)
	assert.Equal(t, "Outlook error 0x800", got.body)
	assert.Equal(t, http.StatusForbidden, d.as("cora").get(m[1]).status)

	tests := []struct {
		name, file, ctype string
		size              int
		status            int
	}{
		{"control character (the form does not parse)", "a\x01b.txt", "text/plain", 10, http.StatusBadRequest},
		{"a program", "setup.exe", "application/x-msdownload", 10, http.StatusUnprocessableEntity},
		{"too large", "big.txt", "text/plain", MaxUpload + MaxBody + 1, http.StatusRequestEntityTooLarge},
	}
	// Go's form reader keeps only a file name's last element: a path in
	// the name never reaches the store.
	r = carl.upload(id, "../../etc/passwd", "text/plain", []byte("x"))
	require.Equal(t, http.StatusSeeOther, r.status, text(r.body))
	page = carl.get("/incidents/" + id).body
	assert.Contains(t, page, ">passwd</a>")
	assert.NotContains(t, page, "etc/passwd")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := d.snapshot()
			r := carl.upload(id, tc.file, tc.ctype, []byte(strings.Repeat("x", tc.size)))
			assert.Equal(t, tc.status, r.status, text(r.body))
			assert.Equal(t, before, d.snapshot())
		})
	}
}
