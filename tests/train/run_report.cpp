// Run report: base64 and escaping, chart grouping, the SVG curves' points, a well-formed page, reading a run dir.
#include "vae/train/run_report.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace run_report_test {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path fresh_dir(const std::string& name) {
  const auto dir = fs::path(VAE_BINARY_DIR) / "test_tmp" / "run_report" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The first bytes of a PNG of `w` x `h` pixels: signature and IHDR chunk (the report reads no further).
std::string png_head(std::uint32_t w, std::uint32_t h) {
  std::string s = "\x89PNG\r\n\x1a\n";
  s += std::string("\0\0\0\x0dIHDR", 8);
  for (const std::uint32_t v : {w, h})
    for (int k = 3; k >= 0; --k) s += static_cast<char>((v >> (8 * k)) & 0xff);
  s += std::string("\x08\x00\x00\x00\x00", 5);
  return s;
}

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// The `points` of every <polyline data-key="KEY">, as (x, y) lists.
std::vector<std::vector<std::pair<double, double>>> polylines(const std::string& svg, const std::string& key) {
  std::vector<std::vector<std::pair<double, double>>> out;
  const std::string open = "<polyline data-key=\"" + key + "\"";
  for (auto at = svg.find(open); at != std::string::npos; at = svg.find(open, at + 1)) {
    const auto p = svg.find("points=\"", at) + 8;
    std::istringstream in(svg.substr(p, svg.find('"', p) - p));
    std::vector<std::pair<double, double>> pts;
    double x = 0, y = 0;
    char comma = 0;
    while (in >> x >> comma >> y) pts.emplace_back(x, y);
    out.push_back(pts);
  }
  return out;
}

// XML well-formedness of the page (after its doctype): every tag closed in order, attribute values quoted, every
// '&' an entity, no '<' or '>' in text. Returns the first problem, or "" when there is none.
std::string xml_problem(const std::string& page) {
  static const std::vector<std::string> entities = {"&amp;", "&lt;", "&gt;", "&quot;", "&#"};
  std::vector<std::string> open;
  std::size_t i = page.find("<html");
  if (page.rfind("<!DOCTYPE html>", 0) != 0 || i == std::string::npos) return "no <!DOCTYPE html> then <html>";
  for (; i < page.size(); ++i) {
    const char c = page[i];
    if (c == '&') {
      if (std::none_of(entities.begin(), entities.end(), [&](const auto& e) { return page.compare(i, e.size(), e) == 0; }))
        return "bare '&' at " + std::to_string(i);
    } else if (c == '>') {
      return "'>' in text at " + std::to_string(i);
    } else if (c == '<') {
      const auto end = page.find('>', i);
      if (end == std::string::npos) return "unclosed tag at " + std::to_string(i);
      const std::string tag = page.substr(i + 1, end - i - 1);
      if (tag.empty() || !(std::isalpha(static_cast<unsigned char>(tag[0])) || tag[0] == '/'))
        return "'<' in text at " + std::to_string(i);
      if (count(tag, "\"") % 2 != 0 || tag.find('<') != std::string::npos) return "bad attributes in <" + tag + ">";
      const bool closing = tag[0] == '/', self = tag.back() == '/';
      const std::string name = tag.substr(closing, tag.find_first_of(" /", closing) - closing);
      if (closing) {
        if (open.empty() || open.back() != name) return "</" + name + "> closes <" + (open.empty() ? "" : open.back()) + ">";
        open.pop_back();
      } else if (!self) {
        open.push_back(name);
        if (name == "style") {  // CSS text: skip to its end tag
          const auto close = page.find("</style>", end);
          if (close == std::string::npos) return "unclosed <style>";
          i = close - 1;
          continue;
        }
      }
      i = end;
    }
  }
  return open.empty() ? "" : "unclosed <" + open.back() + ">";
}

std::vector<json> vq_metrics() {
  return {json{{"epoch", 1}, {"step", 10}, {"n", 100}, {"train_loss", 0.9}, {"test_loss", 0.8}, {"test_mse", 0.8},
               {"train_codebook_usage", 0.25}, {"codebook_usage", 0.2}, {"train_perplexity", 40.0},
               {"perplexity", 35.0}, {"train_codes_used", 128}, {"train_codebook_size", 512}, {"codebook_size", 512},
               {"train_dead_code_restarts", 3}, {"token_roundtrip_exact", true}},
          json{{"epoch", 2}, {"step", 20}, {"n", 100}, {"train_loss", 0.5}, {"test_loss", 0.45}, {"test_mse", 0.45},
               {"train_codebook_usage", 0.5}, {"codebook_usage", 0.4}, {"train_perplexity", 90.0},
               {"perplexity", 80.0}, {"train_codes_used", 256}, {"train_codebook_size", 512}, {"codebook_size", 512},
               {"train_dead_code_restarts", 1}, {"token_roundtrip_exact", true}}};
}

const vae::report_chart* find_chart(const std::vector<vae::report_chart>& charts, const std::string& key) {
  for (const auto& c : charts)
    if (std::find(c.keys.begin(), c.keys.end(), key) != c.keys.end()) return &c;
  return nullptr;
}


TEST_CASE("run report: base64 (RFC 4648 test vectors) and HTML escaping") {
  using vae::report_detail::base64;
  CHECK(base64("") == "");
  CHECK(base64("f") == "Zg==");
  CHECK(base64("fo") == "Zm8=");
  CHECK(base64("foo") == "Zm9v");
  CHECK(base64("foob") == "Zm9vYg==");
  CHECK(base64("fooba") == "Zm9vYmE=");
  CHECK(base64("foobar") == "Zm9vYmFy");
  CHECK(base64(std::string("\xff\x00\xfe", 3)) == "/wD+");
  CHECK(vae::report_detail::html_escape("a<b>&\"c'd") == "a&lt;b&gt;&amp;&quot;c&#39;d");
}

TEST_CASE("run report: every numeric key is plotted, grouped by its words; bookkeeping and non-numbers are not") {
  const auto charts = vae::report_charts(vq_metrics());
  const auto* loss = find_chart(charts, "train_loss");
  REQUIRE(loss != nullptr);
  CHECK(loss->title == "Loss (train, test)");
  CHECK(find_chart(charts, "test_loss") == loss);
  CHECK(charts.front().title == loss->title);  // the loss comes first
  REQUIRE(find_chart(charts, "codebook_usage") != nullptr);
  CHECK(find_chart(charts, "codebook_usage") == find_chart(charts, "train_codebook_usage"));
  CHECK(find_chart(charts, "perplexity")->title == "Codebook perplexity");
  CHECK(find_chart(charts, "train_perplexity") == find_chart(charts, "perplexity"));
  CHECK(find_chart(charts, "test_mse") != nullptr);
  CHECK(find_chart(charts, "train_dead_code_restarts") != nullptr);
  for (const char* k : {"epoch", "step", "n", "train_codes_used", "train_codebook_size", "codebook_size",
                        "token_roundtrip_exact"})
    CHECK_MESSAGE(find_chart(charts, k) == nullptr, k);

  // Keys that later models write find their charts without a change to the report.
  const std::vector<json> gan = {json{{"epoch", 1}, {"g_loss", 1.0}, {"d_loss", 2.0}, {"logits_real", 0.5},
                                      {"logits_fake", -0.5}, {"disc_weight", 0.1}, {"fid", 80.0},
                                      {"train_kl", 3.0}, {"train_rec_loss", 4.0}, {"my_new_metric", 7.0}}};
  const auto g = vae::report_charts(gan);
  REQUIRE(find_chart(g, "g_loss") != nullptr);
  CHECK(find_chart(g, "g_loss")->title == "GAN losses");
  CHECK(find_chart(g, "d_loss") == find_chart(g, "g_loss"));
  CHECK(find_chart(g, "logits_real")->title == "Discriminator logits");
  CHECK(find_chart(g, "logits_fake") == find_chart(g, "logits_real"));
  CHECK(find_chart(g, "disc_weight")->title == "Adaptive GAN weight");
  CHECK(find_chart(g, "fid")->title == "FID");
  CHECK(find_chart(g, "train_kl")->title == "Loss parts");
  CHECK(find_chart(g, "train_rec_loss") == find_chart(g, "train_kl"));
  CHECK(find_chart(g, "my_new_metric")->title == "my_new_metric");
  CHECK(g.size() == 6);
}

TEST_CASE("run report: a curve's points follow its values; a null breaks the line; hover titles name the value") {
  const std::vector<json> m = {json{{"epoch", 1}, {"train_loss", 3.0}, {"test_loss", 2.5}},
                               json{{"epoch", 2}, {"train_loss", 2.0}, {"test_loss", nullptr}},
                               json{{"epoch", 3}, {"train_loss", 1.5}, {"test_loss", 1.0}},
                               json{{"epoch", 4}, {"train_loss", 1.25}, {"test_loss", 0.5}}};
  const auto svg = vae::report_svg_chart({"Loss", {"train_loss", "test_loss"}}, m);
  const auto train = polylines(svg, "train_loss");
  REQUIRE(train.size() == 1);
  REQUIRE(train[0].size() == 4);
  // Epochs are evenly spaced along x; y grows downwards, so a falling loss rises in y, in proportion to its values.
  const auto& p = train[0];
  for (std::size_t i = 1; i < p.size(); ++i) {
    CHECK(p[i].first - p[i - 1].first == doctest::Approx(p[1].first - p[0].first).epsilon(1e-3));
    CHECK(p[i].second > p[i - 1].second);
  }
  // (3 - 2) : (2 - 1.5) : (1.5 - 1.25) = 4 : 2 : 1, to the 0.01-pixel rounding of the coordinates.
  CHECK((p[1].second - p[0].second) / (p[3].second - p[2].second) == doctest::Approx(4).epsilon(1e-3));
  CHECK((p[2].second - p[1].second) / (p[3].second - p[2].second) == doctest::Approx(2).epsilon(1e-3));
  // The test curve skips epoch 2 (null): two pieces, epochs 1 and 3-4, on the same x positions as the train curve.
  const auto test = polylines(svg, "test_loss");
  REQUIRE(test.size() == 2);
  REQUIRE(test[0].size() == 1);
  REQUIRE(test[1].size() == 2);
  CHECK(test[0][0].first == doctest::Approx(p[0].first));
  CHECK(test[1][0].first == doctest::Approx(p[2].first));
  // Shared y axis: test 2.5 lies between train 3 and train 2; 1.0 and 0.5 lie below (larger y than) train's 1.25.
  CHECK(test[0][0].second > p[0].second);
  CHECK(test[0][0].second < p[1].second);
  CHECK(test[1][1].second > p[3].second);
  CHECK(count(svg, "<circle ") == 7);
  CHECK(svg.find("<title>train_loss, epoch 3: 1.5</title>") != std::string::npos);
  CHECK(svg.find("<title>test_loss, epoch 4: 0.5</title>") != std::string::npos);
  CHECK(xml_problem("<!DOCTYPE html>\n<html>" + svg + "</html>") == "");

  // One epoch: a single point inside the plot area (the range opens around it).
  const auto one = polylines(vae::report_svg_chart({"Loss", {"train_loss"}}, {m[0]}), "train_loss");
  REQUIRE(one.size() == 1);
  REQUIRE(one[0].size() == 1);
  CHECK(one[0][0].first > 0);
  CHECK(one[0][0].second > 0);
}

TEST_CASE("run report: the page is well-formed, self-contained and escapes what it shows") {
  vae::run_report_data d;
  d.title = "run <1> & co";
  d.source = "/runs/a&b";
  d.config = {{"model", "mlp-vae"}, {"data", "folder:<script>alert('x')</script>"}, {"epochs", 2}, {"lr", 1e-3}};
  d.metrics = vq_metrics();
  d.metrics[1]["weird<key>"] = 1.0;
  d.pictures.push_back({"samples.png", "samples <from> the prior", png_head(242, 100)});
  const auto page = vae::render_run_report(d);
  CHECK(xml_problem(page) == "");
  CHECK(page.find("<script") == std::string::npos);  // the config's text is escaped, and the page has no script
  CHECK(page.find("folder:&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") != std::string::npos);
  CHECK(page.find("<title>run &lt;1&gt; &amp; co</title>") != std::string::npos);
  CHECK(page.find("weird&lt;key&gt;") != std::string::npos);
  CHECK(page.find("samples &lt;from&gt; the prior") != std::string::npos);
  // No external resource: the only URIs are the data: picture and the SVG namespace.
  CHECK(page.find("src=\"http") == std::string::npos);
  CHECK(page.find("href=") == std::string::npos);
  CHECK(page.find("src=\"data:image/png;base64," + vae::report_detail::base64(d.pictures[0].png) + "\"") != std::string::npos);
  CHECK(page.find("width=\"484\" height=\"200\"") != std::string::npos);  // 242 x 100 drawn at 2x
  // The final-metrics table: the last epoch's value with min and max over the epochs.
  CHECK(page.find("<tr><td>train_perplexity</td><td>90</td><td>40</td><td>90</td></tr>") != std::string::npos);
  CHECK(page.find("<tr><td>token_roundtrip_exact</td><td>true</td><td></td><td></td></tr>") != std::string::npos);
  CHECK(page.find("<tr><td>lr</td><td>0.001</td></tr>") != std::string::npos);
  CHECK(page.find("2 epochs recorded of 2") != std::string::npos);
  for (const char* key : {"train_loss", "test_loss", "codebook_usage", "train_codebook_usage", "perplexity"})
    CHECK_MESSAGE(polylines(page, key).size() == 1, key);
}

TEST_CASE("run report: reads a run directory and writes DIR/report.html; clear errors for what is wrong") {
  const auto dir = fresh_dir("run");
  write(dir / "config.json", R"({"model": "vq-vae", "data": "fashion-mnist", "epochs": 2})");
  std::string lines;
  for (const auto& r : vq_metrics()) lines += r.dump() + "\n";
  write(dir / "metrics.jsonl", lines + "\n");  // a trailing blank line is skipped
  write(dir / "samples.png", png_head(10, 10));
  write(dir / "reconstructions.png", png_head(20, 10));
  write(dir / "extra.png", png_head(5, 5));
  const auto d = vae::read_run_report(dir);
  CHECK(d.title == "vae run: vq-vae on fashion-mnist");
  CHECK(d.metrics.size() == 2);
  REQUIRE(d.pictures.size() == 3);
  CHECK(d.pictures[0].name == "reconstructions.png");
  CHECK(d.pictures[1].name == "samples.png");
  CHECK(d.pictures[2].name == "extra.png");
  CHECK(d.pictures[1].png == png_head(10, 10));

  CHECK(vae::write_run_report(dir) == dir / "report.html");
  const auto page = read(dir / "report.html");
  CHECK(xml_problem(page) == "");
  CHECK(count(page, "src=\"data:image/png;base64,") == 3);
  CHECK(polylines(page, "train_perplexity").size() == 1);
  CHECK(vae::write_run_report(dir, dir / "other.html") == dir / "other.html");
  CHECK(read(dir / "other.html").size() > 1000);

  write(dir / "bad.png", "not a png");
  CHECK_THROWS_WITH_AS(vae::read_run_report(dir), doctest::Contains("bad.png' is not a PNG file (expected the PNG signature"),
                       vae::error);
  fs::remove(dir / "bad.png");
  write(dir / "metrics.jsonl", lines + "{\"epoch\": 3, oops\n");
  CHECK_THROWS_WITH_AS(vae::read_run_report(dir), doctest::Contains("metrics.jsonl' line 3 is not valid JSON"),
                       vae::error);
  write(dir / "metrics.jsonl", "[1, 2]\n");
  CHECK_THROWS_WITH_AS(vae::read_run_report(dir), doctest::Contains("line 1: expected a JSON object per line, got array"),
                       vae::error);
  fs::remove(dir / "metrics.jsonl");
  CHECK_THROWS_WITH_AS(vae::read_run_report(dir), doctest::Contains("is not a training run: it has no metrics.jsonl"),
                       vae::error);
  // A run with no epoch yet (epochs 0, or the report read while epoch 1 runs): a page that says so.
  write(dir / "metrics.jsonl", "");
  fs::remove(dir / "extra.png");
  const auto empty = vae::render_run_report(vae::read_run_report(dir));
  CHECK(xml_problem(empty) == "");
  CHECK(empty.find("No epoch has been recorded yet") != std::string::npos);
  fs::remove_all(dir);
}

}  // namespace run_report_test
