package main

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// upload posts a file to a record's attachments (path is the record's
// page) as the browser; disposition is the part's Content-Disposition
// ("" for a file field named file with the name given).
func (b *browser) upload(path, name, ctype string, content []byte) response {
	b.d.t.Helper()
	return b.uploadPart(path, `form-data; name="file"; filename="`+name+`"`, ctype, content)
}

func (b *browser) uploadPart(path, disposition, ctype string, content []byte) response {
	b.d.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	require.NoError(b.d.t, mw.WriteField("csrf", b.csrf()))
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", disposition)
	h.Set("Content-Type", ctype)
	part, err := mw.CreatePart(h)
	require.NoError(b.d.t, err)
	_, _ = part.Write(content)
	require.NoError(b.d.t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, b.d.url+path+"/attachments", &buf)
	require.NoError(b.d.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

// orderLaptop has cora order a laptop and returns the request's page.
func (d *desk) orderLaptop() string {
	d.t.Helper()
	r := d.as("cora").post("/catalog/"+d.seeded.LaptopItem, url.Values{"model": {"standard"}, "quantity": {"1"}, "justification": {"new starter"}})
	require.Equal(d.t, http.StatusSeeOther, r.status, text(r.body))
	return r.location
}

// Files attach to incidents and to requests alike: the record's own
// people attach and download them, someone else may not, and bad names,
// types and sizes are refused next to the field in plain words with
// nothing written.
func TestAttachments(t *testing.T) {
	d := newDesk(t)
	records := []struct {
		kind, path             string
		owner, agent, outsider string
	}{
		{operation.KindIncident, "/incidents/" + d.seeded.Incident, "carl", "ann", "cora"},
		{operation.KindRequest, d.orderLaptop(), "cora", "ann", "carl"},
	}
	for _, rec := range records {
		t.Run(rec.kind, func(t *testing.T) {
			owner := d.as(rec.owner)
			assert.Contains(t, owner.get(rec.path).body, `id="attach-form"`)
			r := owner.upload(rec.path, "error.txt", "text/plain", []byte("Outlook error 0x800"))
			require.Equal(t, http.StatusSeeOther, r.status, text(r.body))
			assert.Equal(t, rec.path, r.location)
			page := d.as(rec.agent).get(rec.path).body
			m := regexp.MustCompile(`href="(/attachments/[^"]+)">error.txt</a>`).FindStringSubmatch(page)
			require.NotNil(t, m, "listed on the page")
			got := d.as(rec.agent).get(m[1])
			assert.Equal(t, http.StatusOK, got.status)
			assert.Equal(t, "Outlook error 0x800", got.body)
			assert.Equal(t, http.StatusForbidden, d.as(rec.outsider).get(m[1]).status, "someone else's record")
			before := d.snapshot()
			assert.Equal(t, http.StatusForbidden, d.as(rec.outsider).upload(rec.path, "x.txt", "text/plain", []byte("x")).status)
			assert.Equal(t, before, d.snapshot())

			// Go's form reader keeps only a file name's last element: a
			// path in the name never reaches the store.
			r = owner.upload(rec.path, "../../etc/passwd", "text/plain", []byte("x"))
			require.Equal(t, http.StatusSeeOther, r.status, text(r.body))
			page = owner.get(rec.path).body
			assert.Contains(t, page, ">passwd</a>")
			assert.NotContains(t, page, "etc/passwd")

			tests := []struct {
				name, disposition, ctype string
				content                  []byte
				status                   int
				problem                  string
			}{
				{"a Windows path", `form-data; name="file"; filename="..\\..\\boot.ini"`, "text/plain", []byte("x"),
					http.StatusUnprocessableEntity, "Rename the file: its name must not hold a path separator."},
				{"a control character, encoded", `form-data; name="file"; filename*=UTF-8''a%01b.txt`, "text/plain", []byte("x"),
					http.StatusUnprocessableEntity, "Rename the file: its name must not hold control characters."},
				{"a raw control character (the form does not parse)", "form-data; name=\"file\"; filename=\"a\x01b.txt\"", "text/plain", []byte("x"),
					http.StatusBadRequest, "The form could not be read."},
				{"a program", `form-data; name="file"; filename="setup.exe"`, "application/x-msdownload", []byte("MZ\x90\x00\x03\x00\x00\x00"),
					http.StatusUnprocessableEntity, "This kind of file is not accepted"},
				{"a web page called text", `form-data; name="file"; filename="note.txt"`, "text/plain", []byte("<html><script>alert(1)</script>"),
					http.StatusUnprocessableEntity, "This kind of file is not accepted"},
				{"empty", `form-data; name="file"; filename="empty.txt"`, "text/plain", nil,
					http.StatusUnprocessableEntity, "The file is empty."},
				{"over the policy's size", `form-data; name="file"; filename="big.txt"`, "text/plain", bytes.Repeat([]byte("x"), MaxUpload+1),
					http.StatusUnprocessableEntity, "The file is too large: attach at most 2 MB."},
				{"over the body limit", `form-data; name="file"; filename="huge.txt"`, "text/plain", bytes.Repeat([]byte("x"), MaxUpload+MaxBody+1),
					http.StatusRequestEntityTooLarge, "The form is too large."},
				{"no file", `form-data; name="other"; filename="a.txt"`, "text/plain", []byte("x"),
					http.StatusUnprocessableEntity, "Choose a file to attach."},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					before := d.snapshot()
					r := owner.uploadPart(rec.path, tc.disposition, tc.ctype, tc.content)
					assert.Equal(t, tc.status, r.status, text(r.body))
					assert.Contains(t, text(r.body), tc.problem)
					if tc.status == http.StatusUnprocessableEntity {
						fe := regexp.MustCompile(`id="file"[^>]*aria-invalid="true"[^>]*><span class="field-error">([^<]*)</span>`).FindStringSubmatch(r.body)
						require.NotNil(t, fe, "the problem is shown next to the field")
						assert.Contains(t, fe[1], strings.TrimSuffix(tc.problem, "."))
					}
					assert.Equal(t, before, d.snapshot(), "nothing written")
				})
			}
			files, _, err := d.srv.files.List(reader(), rec.kind, rec.path[strings.LastIndex(rec.path, "/")+1:], storage.Paging{Limit: 10})
			require.NoError(t, err)
			var names []string
			for _, f := range files {
				names = append(names, f.Name)
			}
			assert.ElementsMatch(t, []string{"error.txt", "passwd"}, names, "only the accepted files are stored")
		})
	}
}
