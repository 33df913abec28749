// Fax number normalisation, senders read from text, and sender patterns.
#include <gtest/gtest.h>

#include "atdesk/core/recipient_table.hpp"
#include "atdesk/core/sender.hpp"

namespace atdesk {
namespace {

const NumberPlan kJapan{"81", "0", "00"};
const NumberPlan kUnknownCountry{"", "0", "00"};

std::string digits(std::string_view text, const NumberPlan& plan = kJapan) {
  auto n = FaxNumber::parse(text, plan);
  return n ? n->digits() : "error: " + n.error().message;
}

TEST(FaxNumber, EveryWayOfWritingOneNumberIsEqual) {
  for (std::string_view text :
       {"+81 3-1234-5678", "0312345678", "81312345678", "0081312345678", "(03) 1234.5678",
        "03/1234/5678", "+81 (3) 1234 5678", "  03-1234-5678  "}) {
    EXPECT_EQ(digits(text), "81312345678") << text;
  }
  EXPECT_EQ(FaxNumber::parse("+81 3-1234-5678", kJapan).value(),
            FaxNumber::parse("0312345678", kJapan).value());
}

TEST(FaxNumber, OtherCountriesAndPlans) {
  EXPECT_EQ(digits("+49 30 1234567"), "49301234567");
  EXPECT_EQ(digits("0049 30 1234567"), "49301234567");
  const NumberPlan us{"1", "1", "011"};
  EXPECT_EQ(digits("011 81 3 1234 5678", us), "81312345678");
  EXPECT_EQ(digits("1 (212) 555-1234", us), "12125551234");
  EXPECT_EQ(digits("+1.212.555.1234", us), "12125551234");
}

TEST(FaxNumber, WithoutCountryCodeKeepsDigitsAsWritten) {
  EXPECT_EQ(digits("03-1234-5678", kUnknownCountry), "0312345678");
  EXPECT_EQ(digits("+81 3-1234-5678", kUnknownCountry), "81312345678");
  EXPECT_EQ(digits("0081312345678", kUnknownCountry), "81312345678");
  EXPECT_EQ(digits("12345", kUnknownCountry), "12345");
}

TEST(FaxNumber, Display) {
  EXPECT_EQ(FaxNumber::parse("0312345678", kJapan)->display(), "+81312345678");
  // A national number kept as written is not shown as international.
  EXPECT_EQ(FaxNumber::parse("0312345678", kUnknownCountry)->display(), "0312345678");
  EXPECT_TRUE(FaxNumber{}.empty());
}

TEST(FaxNumber, TwentyDigitsAtMost) {
  EXPECT_EQ(digits("+12345678901234567890"), "12345678901234567890");
  EXPECT_NE(digits("+123456789012345678901").find("more than 20 digits"), std::string::npos);
  EXPECT_NE(digits(std::string(5000, '1')).find("more than 20 digits"), std::string::npos);
}

TEST(FaxNumber, RejectsBadInputWithClearErrors) {
  struct Case {
    std::string_view text;
    std::string_view says;
  };
  for (const auto& c : {Case{"", "no digits"}, Case{"   ", "no digits"}, Case{"+", "no digits"},
                        Case{"--()", "no digits"}, Case{"03-1234-FAX", "letter 'F'"},
                        Case{"fax", "letter 'f'"}, Case{"03+1234", "'+' only at the start"},
                        Case{"++81", "'+' only at the start"}, Case{"03_1234", "unexpected"},
                        Case{"03\n1234", "unexpected"}, Case{"00", "after the international"}}) {
    auto n = FaxNumber::parse(c.text, kJapan);
    ASSERT_FALSE(n) << c.text;
    EXPECT_EQ(n.error().code, Errc::invalid_argument);
    EXPECT_NE(n.error().message.find("fax number"), std::string::npos) << n.error().message;
    EXPECT_NE(n.error().message.find(c.says), std::string::npos) << n.error().message;
  }
}

TEST(FaxNumber, ErrorsDoNotEchoControlCharacters) {
  auto n = FaxNumber::parse("03\r\nINJECTED", kJapan);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().message.find('\n'), std::string::npos);
  EXPECT_EQ(n.error().message.find('\r'), std::string::npos);
}

// Numbers as Japanese input methods and spreadsheets write them (full-width digits, full-width
// hyphen-minus, the ideographic space, the dash look-alikes Japanese text uses) read as the ASCII
// number; each is routed like "03-1234-5678".
TEST(FaxNumber, FullWidthAndDashVariantsReadAsAscii) {
  for (std::string_view text : {
           "０３－１２３４－５６７８",  // full-width digits and hyphen-minus (U+FF0D)
           "０３ー１２３４ー５６７８",  // katakana prolonged sound mark (U+30FC)
           "03\u20101234\u20115678",    // hyphen, non-breaking hyphen
           "03\u22121234\u20145678",    // minus sign, em dash
           "03\u30001234\u30005678",    // ideographic space
           "＋８１\u3000３\u3000１２３４\u3000５６７８",  // full-width plus
           "（０３）１２３４．５６７８",                  // full-width parentheses and full stop
           "03ｰ1234ｰ5678",  // half-width katakana prolonged sound mark
       }) {
    EXPECT_EQ(digits(text), "81312345678") << text;
  }
}

TEST(FaxNumber, TelUrisAsRfc3966WritesThem) {
  EXPECT_EQ(digits("tel:+81312345678"), "81312345678");
  EXPECT_EQ(digits("tel:+81-3-1234-5678"), "81312345678");    // visual separators
  EXPECT_EQ(digits("TEL:+81.3.(1234).5678"), "81312345678");  // scheme case, separators
  EXPECT_EQ(digits("tel:03-1234-5678;phone-context=+81"), "81312345678");
  EXPECT_EQ(digits("tel:1234-5678;phone-context=+81-3"), "81312345678");
  EXPECT_EQ(digits("tel:03-1234-5678;phone-context=example.co.jp"), "81312345678");
  EXPECT_EQ(digits("tel:+81312345678;npdi;rn=+81312340000"), "81312345678");
  EXPECT_EQ(digits("ｔｅｌ：＋８１３１２３４５６７８"), "81312345678");
  for (const auto& [text, says] : std::vector<std::pair<std::string_view, std::string_view>>{
           {"tel:03-1234-5678", "needs ;phone-context"},
           {"tel:+81312345678;ext=22", "';ext=' cannot be dialled"},
           {"tel:+81312345678;phone-context=", "phone-context without a value"},
           {"tel:+81-3-FAX", "letter 'F'"},
       }) {
    auto n = FaxNumber::parse(text, kJapan);
    ASSERT_FALSE(n) << text;
    EXPECT_NE(n.error().message.find(says), std::string::npos) << n.error().message;
  }
}

// What is still not a number is named: the character and its code point.
TEST(FaxNumber, ACharacterThatIsNotAcceptedIsNamedWithItsCodePoint) {
  auto n = FaxNumber::parse("03〒1234", kJapan);
  ASSERT_FALSE(n);
  EXPECT_NE(n.error().message.find("'〒' (U+3012)"), std::string::npos) << n.error().message;
  n = FaxNumber::parse(
      "03\xff"
      "1234",
      kJapan);
  ASSERT_FALSE(n);
  EXPECT_NE(n.error().message.find("not UTF-8 at byte 3"), std::string::npos) << n.error().message;
}

TEST(ParseSender, FullWidthFormsAndTelUris) {
  auto s = parse_sender("０３－１２３４－５６７８", kJapan);
  ASSERT_TRUE(s) << s.error().describe();
  EXPECT_EQ(s->fax->digits(), "81312345678");
  s = parse_sender("tel:+81312345678", kJapan);
  ASSERT_TRUE(s) << s.error().describe();
  EXPECT_EQ(s->fax->digits(), "81312345678");
  s = parse_sender("ｂｏｂ＠ｅｘａｍｐｌｅ．ｃｏｍ", kJapan);
  ASSERT_TRUE(s) << s.error().describe();
  EXPECT_EQ(s->email, "bob@example.com");
  auto pattern = SenderPattern::parse("ｐｒｅｆｉｘ：０３", kJapan);
  ASSERT_TRUE(pattern) << pattern.error().describe();
  EXPECT_EQ(pattern->value, "813");
  pattern = SenderPattern::parse("called:tel:+81-3-1234-5678", kJapan);
  ASSERT_TRUE(pattern) << pattern.error().describe();
  EXPECT_EQ(pattern->value, "81312345678");
  pattern = SenderPattern::parse("tel:03-1234-5678;phone-context=+81", kJapan);
  ASSERT_TRUE(pattern) << pattern.error().describe();
  EXPECT_EQ(pattern->kind, PatternKind::number);
  EXPECT_EQ(pattern->value, "81312345678");
}

TEST(ParseSender, EachKind) {
  auto fax = parse_sender(" 03-1234-5678 ", kJapan);
  ASSERT_TRUE(fax) << fax.error().describe();
  EXPECT_EQ(fax->fax->digits(), "81312345678");
  EXPECT_EQ(fax->display(), "+81312345678");

  auto sip = parse_sender("SIP:Alice@Example.ORG;transport=tcp", kJapan);
  ASSERT_TRUE(sip) << sip.error().describe();
  EXPECT_EQ(sip->sip_uri, "sip:Alice@example.org");
  EXPECT_EQ(parse_sender("sips:pbx.example.org", kJapan)->sip_uri, "sips:pbx.example.org");

  auto email = parse_sender("Bob@Example.COM", kJapan);
  ASSERT_TRUE(email);
  EXPECT_EQ(email->email, "Bob@example.com");
  EXPECT_EQ(email->display(), "Bob@example.com");

  EXPECT_EQ(parse_sender("192.0.2.7", kJapan)->ip, "192.0.2.7");
  EXPECT_EQ(parse_sender("2001:DB8:0:0::1", kJapan)->ip, "2001:db8::1");
}

TEST(ParseSender, RejectsWithTheFieldName) {
  for (std::string_view bad :
       {"", "sip:", "sip:@host", "sip:alice@", "sip:a b@host", "@example.org", "bob@localhost",
        "bob@@example.org", "hello", "bob@exa mple.org", "03\x01"}) {
    auto s = parse_sender(bad, kJapan, "upload sender");
    ASSERT_FALSE(s) << bad;
    EXPECT_TRUE(s.error().message.starts_with("upload sender: ")) << s.error().message;
  }
  EXPECT_FALSE(parse_sender(std::string(300, '1'), kJapan));
}

TEST(Sender, DisplayPicksTheBestIdentifier) {
  Sender s;
  EXPECT_EQ(s.display(), "an unknown sender");
  s.ip = "192.0.2.7";
  EXPECT_EQ(s.display(), "192.0.2.7");
  s.email = "bob@example.com";
  EXPECT_EQ(s.display(), "bob@example.com");
  s.tsi = "ACME";
  EXPECT_EQ(s.display(), "ACME");
  s.fax = FaxNumber::parse("0312345678", kJapan).value();
  EXPECT_EQ(s.display(), "+81312345678");
}

struct PatternCase {
  std::string_view text;
  PatternKind kind;
  std::string_view value;
  std::string_view canonical;
};

TEST(SenderPattern, EveryKindParsesAndRoundTrips) {
  const PatternCase cases[] = {
      {"+81 3-1234-5678", PatternKind::number, "81312345678", "+81312345678"},
      {"0312345678", PatternKind::number, "81312345678", "+81312345678"},
      {"+1.212.555.1234", PatternKind::number, "12125551234", "+12125551234"},
      {"03/1234/5678", PatternKind::number, "81312345678", "+81312345678"},
      {"prefix:03", PatternKind::prefix, "813", "prefix:+813"},
      {"PREFIX:+49", PatternKind::prefix, "49", "prefix:+49"},
      {"called:+81312340000", PatternKind::called, "81312340000", "called:+81312340000"},
      {"called:03-1234-0000", PatternKind::called, "81312340000", "called:+81312340000"},
      {"sip:alice@Example.org", PatternKind::sip_uri, "sip:alice@example.org",
       "sip:alice@example.org"},
      {"sips:pbx.example.org", PatternKind::sip_uri, "sips:pbx.example.org",
       "sips:pbx.example.org"},
      {"@Example.org", PatternKind::email_domain, "example.org", "@example.org"},
      {"email:@example.org", PatternKind::email_domain, "example.org", "@example.org"},
      {"email:mail.example.org", PatternKind::email_domain, "mail.example.org",
       "@mail.example.org"},
      {"10.1.2.3/16", PatternKind::ip_cidr, "10.1.0.0/16", "ip:10.1.0.0/16"},
      {"ip:fe80::1/10", PatternKind::ip_cidr, "fe80::/10", "ip:fe80::/10"},
      {"192.0.2.7", PatternKind::ip_cidr, "192.0.2.7/32", "ip:192.0.2.7/32"},
      {"2001:db8::1", PatternKind::ip_cidr, "2001:db8::1/128", "ip:2001:db8::1/128"},
      {"0.0.0.0/0", PatternKind::ip_cidr, "0.0.0.0/0", "ip:0.0.0.0/0"},
      {"::ffff:10.0.0.0/104", PatternKind::ip_cidr, "10.0.0.0/8", "ip:10.0.0.0/8"},
      {"ipp:alice", PatternKind::ipp_user, "alice", "ipp:alice"},
      {"others", PatternKind::others, "", "others"},
      {" ALL ", PatternKind::all, "", "all"},
  };
  for (const auto& c : cases) {
    auto p = SenderPattern::parse(c.text, kJapan);
    ASSERT_TRUE(p) << c.text << ": " << p.error().describe();
    EXPECT_EQ(p->kind, c.kind) << c.text;
    EXPECT_EQ(p->value, c.value) << c.text;
    EXPECT_EQ(p->to_string(), c.canonical) << c.text;
    // Round trip, also under another number plan: the text form does not depend on it.
    EXPECT_EQ(SenderPattern::parse(p->to_string(), kJapan).value(), *p) << c.text;
    EXPECT_EQ(SenderPattern::parse(p->to_string(), kUnknownCountry).value(), *p) << c.text;
  }
  EXPECT_EQ(to_string(PatternKind::email_domain), "email_domain");
}

TEST(SenderPattern, NationalNumberWithoutCountryCodeRoundTrips) {
  auto p = SenderPattern::parse("03-1234-5678", kUnknownCountry);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->value, "0312345678");
  EXPECT_EQ(SenderPattern::parse(p->to_string(), kUnknownCountry).value(), *p);
}

TEST(SenderPattern, RejectsInvalidPatterns) {
  struct Case {
    std::string_view text;
    std::string_view says;
  };
  for (const auto& c : {
           Case{"", "got nothing"},
           Case{"prefix:", "no digits"},
           Case{"prefix:00", "no digits"},
           Case{"prefix:abc", "letter"},
           Case{"called:", "no digits"},
           Case{"10.0.0.0/33", "over 32"},
           Case{"ip:fe80::/129", "over 128"},
           Case{"10.0.0.0/", "network length"},
           Case{"10.0.0.0/x", "network length"},
           Case{"ip:300.1.1.1", "IP address"},
           Case{"ip:", "IP address"},
           Case{"fe80::zz", "IP address"},
           Case{"sip:", "SIP URI"},
           Case{"sip:@host", "SIP URI"},
           Case{"sips:alice@", "SIP URI"},
           Case{"@localhost", "e-mail domain"},
           Case{"email:@", "e-mail domain"},
           Case{"@.org", "e-mail domain"},
           Case{"@example..org", "e-mail domain"},
           Case{"ipp:", "ipp:<user name>"},
           Case{"nobody", "letter"},
           Case{"others please", "letter"},
           Case{"prefix:03\x07", "printable"},
       }) {
    auto p = SenderPattern::parse(c.text, kJapan);
    ASSERT_FALSE(p) << c.text;
    EXPECT_EQ(p.error().code, Errc::invalid_argument);
    // The caller names the field ("rule 3: pattern: ..."); the message does not repeat it.
    EXPECT_FALSE(p.error().message.starts_with("pattern")) << p.error().message;
    EXPECT_NE(p.error().message.find(c.says), std::string::npos)
        << c.text << ": " << p.error().message;
  }
  EXPECT_FALSE(SenderPattern::parse(std::string(400, '1'), kJapan));
}

// What modems and Asterisk put in CIDNumber when the number is withheld: never a number, never a
// reason to refuse a fax (issue 22).
TEST(FaxSender, WithheldCallerIdIsAnUnknownSender) {
  for (std::string_view cid : {"P", "O", "p", "anonymous", "Anonymous", "Restricted",
                               " RESTRICTED ", "<UNSPECIFIED>", "unavailable", "Private"}) {
    EXPECT_TRUE(is_withheld_caller_id(cid)) << cid;
    const auto s = fax_sender(cid, "", kJapan);
    EXPECT_FALSE(s.fax) << cid;
    EXPECT_EQ(s.caller_id, "") << cid;
    EXPECT_EQ(s.display(), "an unknown sender") << cid;
  }
  for (std::string_view cid : {"0312345678", "+1 917 555 0142", "PO", "Pat", ""}) {
    EXPECT_FALSE(is_withheld_caller_id(cid)) << cid;
  }
}

TEST(FaxSender, NumberFromCallerIdElseFromTheTsi) {
  auto s = fax_sender("03-1234-5678", "ACME", kJapan);
  EXPECT_EQ(s.fax->digits(), "81312345678");
  EXPECT_EQ(s.caller_id, "03-1234-5678");
  EXPECT_EQ(s.tsi, "ACME");
  s = fax_sender("P", "+81 3 9876 5432", kJapan);
  EXPECT_EQ(s.fax->digits(), "81398765432");
  EXPECT_EQ(s.tsi, "+81 3 9876 5432");
  s = fax_sender("", "<UNSPECIFIED>", kJapan);
  EXPECT_FALSE(s.fax);
  EXPECT_EQ(s.tsi, "");
  // Not a number and not a known marker: kept as presented, the sender is still unknown.
  s = fax_sender("call me maybe", "", kJapan);
  EXPECT_FALSE(s.fax);
  EXPECT_EQ(s.caller_id, "call me maybe");
}

}  // namespace
}  // namespace atdesk
