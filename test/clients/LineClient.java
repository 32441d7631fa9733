// A plain line-reading SSE client, as the okhttp loop in many Java and Android apps reads an
// OpenAI-compatible stream: one line at a time with okio's readUtf8Line() until exhausted(),
// taking each "data: " line as one JSON payload. Compiled and run by
// test/integration/line-clients.test.ts (Debian's libokhttp-java and libokio-java).
//
// Usage: java -cp <okhttp.jar>:<okio.jar>:<dir> LineClient <url> <json body>
// Prints "STATUS <code>", then for each line read "DATA <payload>" or "LINE <line>", then "EOF".
// The Node test parses the payloads: this client needs no JSON library, only the line reading.
import java.io.FileOutputStream;
import java.io.FileDescriptor;
import java.io.PrintStream;
import java.util.concurrent.TimeUnit;
import okhttp3.MediaType;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import okio.BufferedSource;

public final class LineClient {
  public static void main(String[] args) throws Exception {
    // UTF-8 whatever the locale: the payloads carry non-ASCII text.
    PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
    OkHttpClient client = new OkHttpClient.Builder().readTimeout(30, TimeUnit.SECONDS).build();
    Request request = new Request.Builder()
        .url(args[0])
        .post(RequestBody.create(MediaType.get("application/json"), args[1]))
        .build();
    try (Response response = client.newCall(request).execute()) {
      out.println("STATUS " + response.code());
      BufferedSource source = response.body().source();
      while (!source.exhausted()) {
        String line = source.readUtf8Line();
        if (line == null) break;
        if (line.startsWith("data: ")) out.println("DATA " + line.substring(6));
        else out.println("LINE " + line);
      }
    }
    out.println("EOF");
    out.flush();
    System.exit(0);
  }
}
