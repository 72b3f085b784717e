package bedrock

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The AWS SigV4 test suite (aws-sig-v4-test-suite): fixed date, key and
// scope; the expected signatures are AWS's published values.
var (
	suiteCreds = credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	suiteTime  = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
)

const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestSigV4TestSuite(t *testing.T) {
	const prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature="
	for _, tt := range []struct {
		name, method, url string
		creq              string // the suite's canonical request, "" to skip
		sig               string
	}{
		{"get-vanilla", "GET", "https://example.amazonaws.com/",
			"GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptyHash,
			"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"post-vanilla", "POST", "https://example.amazonaws.com/",
			"POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptyHash,
			"5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
		{"get-vanilla-query-order-key-case", "GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1",
			"GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptyHash,
			"b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
		{"post-vanilla-query", "POST", "https://example.amazonaws.com/?Param1=value1",
			"POST\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptyHash,
			"28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			signV4(req, emptyHash, suiteCreds, "us-east-1", "service", suiteTime)
			if got := req.Header.Get("X-Amz-Date"); got != "20150830T123600Z" {
				t.Fatalf("X-Amz-Date %q", got)
			}
			if creq, _ := canonicalRequest(req, emptyHash); creq != tt.creq {
				t.Errorf("canonical request:\n%s\nwant:\n%s", creq, tt.creq)
			}
			if got := req.Header.Get("Authorization"); got != prefix+tt.sig {
				t.Errorf("Authorization:\n%s\nwant:\n%s", got, prefix+tt.sig)
			}
		})
	}
}

// The string to sign of get-vanilla hashes the canonical request to the
// suite's value.
func TestSigV4CanonicalRequestHash(t *testing.T) {
	req, _ := http.NewRequest("GET", "https://example.amazonaws.com/", nil)
	req.Header.Set("X-Amz-Date", "20150830T123600Z")
	creq, _ := canonicalRequest(req, emptyHash)
	if got := hexSHA256([]byte(creq)); got != "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63" {
		t.Fatalf("hash %s", got)
	}
	req, _ = http.NewRequest("POST", "https://example.amazonaws.com/", nil)
	req.Header.Set("X-Amz-Date", "20150830T123600Z")
	creq, _ = canonicalRequest(req, emptyHash)
	if got := hexSHA256([]byte(creq)); got != "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87" {
		t.Fatalf("hash %s", got)
	}
}

// A model id's ':' (and an ARN's '/') travels encoded once in the URL and
// is signed encoded twice, as the AWS SDKs do for every service but S3.
func TestSigV4ModelIDPath(t *testing.T) {
	for _, tt := range []struct{ model, wire, canonical string }{
		{"anthropic.claude-3-5-sonnet-20240620-v1:0",
			"/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
			"/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse"},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-2-1b-instruct-v1:0",
			"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.meta.llama3-2-1b-instruct-v1%3A0/converse",
			"/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A123456789012%253Ainference-profile%252Fus.meta.llama3-2-1b-instruct-v1%253A0/converse"},
	} {
		req, err := http.NewRequest("POST", "https://bedrock-runtime.us-east-1.amazonaws.com/model/"+uriEncode(tt.model, false)+"/converse", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := req.URL.RequestURI(); got != tt.wire {
			t.Errorf("on the wire: %s\nwant %s", got, tt.wire)
		}
		if got := canonicalURI(req.URL); got != tt.canonical {
			t.Errorf("canonical: %s\nwant %s", got, tt.canonical)
		}
	}
}

func TestSigV4SignsTokenAndContentType(t *testing.T) {
	req, _ := http.NewRequest("POST", "https://bedrock-runtime.eu-west-3.amazonaws.com/model/m/converse", nil)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "not signed")
	c := suiteCreds
	c.SessionToken = "FQoGZXIvYXdzEXAMPLE"
	signV4(req, emptyHash, c, "eu-west-3", "bedrock", suiteTime)
	auth := req.Header.Get("Authorization")
	if !strings.Contains(auth, "Credential=AKIDEXAMPLE/20150830/eu-west-3/bedrock/aws4_request") ||
		!strings.Contains(auth, "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,") ||
		req.Header.Get("X-Amz-Security-Token") != c.SessionToken {
		t.Fatalf("Authorization %q", auth)
	}
}

func TestCanonicalHeaderValue(t *testing.T) {
	if got := canonicalHeaderValue([]string{"  a   b  ", "c"}); got != "a b,c" {
		t.Fatalf("%q", got)
	}
}

// A Converse-stream request to an inference-profile ARN, with temporary
// credentials: the signature the AWS SDK for Go v2 (aws/signer/v4 v1.47.4)
// computes for it, recorded once from that SDK outside this module.
func TestSigV4MatchesTheAWSSDK(t *testing.T) {
	body := `{"messages":[]}`
	model := "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0"
	req, _ := http.NewRequest("POST", "https://bedrock-runtime.us-east-1.amazonaws.com/model/"+uriEncode(model, false)+"/converse-stream", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	c := credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", SessionToken: "TOKEN"}
	signV4(req, hexSHA256([]byte(body)), c, "us-east-1", "bedrock", time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	const want = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/us-east-1/bedrock/aws4_request, " +
		"SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, " +
		"Signature=a76919f31a06e3677b5c1759a1b2456c0c78d3045bda6c62eeaf3f55ff986b97"
	if got := req.Header.Get("Authorization"); got != want {
		t.Fatalf("Authorization:\n%s\nwant:\n%s", got, want)
	}
}
