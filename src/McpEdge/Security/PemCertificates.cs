using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace McpEdge.Security;

/// <summary>
/// Certificates from PEM text, as Kubernetes TLS secrets and cert-manager hold them: a certificate
/// file (the certificate, then its intermediates) with its key file, and CA bundles. Shared by the
/// listener's certificate (<see cref="TlsCertificateReloader"/>) and the upstream side
/// (<see cref="Forwarder.UpstreamTlsContext"/>).
/// </summary>
public static class PemCertificates
{
    /// <summary>The server-authentication extended key usage (RFC 5280 §4.2.1.12, id-kp-serverAuth).</summary>
    public const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";

    /// <summary>The client-authentication extended key usage (RFC 5280 §4.2.1.12, id-kp-clientAuth).</summary>
    public const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    /// <summary>
    /// The first certificate of <paramref name="certificatePem"/> with the private key of
    /// <paramref name="keyPem"/>, and the certificates after it as its chain; null with
    /// <paramref name="error"/> (a sentence) when the text holds no certificate, the key is not the
    /// certificate's, the key's encryption and <paramref name="keyPassword"/> do not go together, or
    /// the certificate's extended key usage, when it has one, lacks <paramref name="usageOid"/>.
    /// </summary>
    /// <param name="certificatePem">The certificate file's text.</param>
    /// <param name="keyPem">The key file's text: PKCS#8 (<c>PRIVATE KEY</c>), PKCS#1 or SEC1 unencrypted, or
    /// encrypted PKCS#8 (<c>ENCRYPTED PRIVATE KEY</c>, RFC 5958 §3, PBES2) with <paramref name="keyPassword"/>.</param>
    /// <param name="keyPassword">The password of an encrypted key, or null for an unencrypted one.</param>
    /// <param name="usageOid"><see cref="ServerAuthentication"/> or <see cref="ClientAuthentication"/>.</param>
    /// <param name="usage">The usage in words, for the error ("server authentication").</param>
    /// <param name="error">Why nothing was loaded.</param>
    public static (X509Certificate2 Certificate, X509Certificate2Collection Chain)? LoadPair(string certificatePem, string keyPem, string? keyPassword, string usageOid, string usage, out string? error)
    {
        if (LoadBundle(certificatePem, "certificate file", out error) is not { } all)
        {
            return null;
        }
        if (KeyEncryptionProblem(keyPem, keyPassword is not null) is { } problem)
        {
            error = problem;
            return null;
        }
        X509Certificate2 certificate;
        try
        {
            certificate = keyPassword is null
                ? X509Certificate2.CreateFromPem(certificatePem, keyPem)
                : X509Certificate2.CreateFromEncryptedPem(certificatePem, keyPem, keyPassword);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            error = keyPassword is null
                ? $"the key file does not hold the unencrypted private key of the certificate {all[0].Subject} ({e.Message})."
                : $"the key file does not hold the private key of the certificate {all[0].Subject} encrypted with the password of the password file ({e.Message}).";
            return null;
        }
        if (certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is { } usages
            && !usages.EnhancedKeyUsages.Cast<Oid>().Any(oid => oid.Value == usageOid))
        {
            error = $"the certificate {certificate.Subject} is not for {usage} (its extended key usage lacks {usageOid}).";
            return null;
        }
        var chain = new X509Certificate2Collection();
        for (var i = 1; i < all.Count; i++)
        {
            chain.Add(all[i]);
        }
        return (certificate, chain);
    }

    /// <summary>
    /// Why <paramref name="keyPem"/> cannot be read with (or without) a password: an encrypted PKCS#8 key
    /// without one, an unencrypted key with one, or an OpenSSL "traditional" encrypted key
    /// (<c>Proc-Type: 4,ENCRYPTED</c>, which .NET does not read); null when none of these.
    /// </summary>
    private static string? KeyEncryptionProblem(string keyPem, bool hasPassword)
    {
        if (keyPem.Contains("Proc-Type: 4,ENCRYPTED", StringComparison.Ordinal))
        {
            return "the key file holds a key in OpenSSL's traditional encrypted format (Proc-Type: 4,ENCRYPTED), which .NET cannot read; convert it to encrypted PKCS#8 with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out key.p8.pem`.";
        }
        var encrypted = keyPem.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal);
        if (encrypted && !hasPassword)
        {
            return "the key file holds an encrypted private key (ENCRYPTED PRIVATE KEY); give its password in KeyPasswordFile.";
        }
        if (!encrypted && hasPassword)
        {
            return "KeyPasswordFile is set, but the key file holds no encrypted private key (-----BEGIN ENCRYPTED PRIVATE KEY-----); remove KeyPasswordFile or encrypt the key.";
        }
        return null;
    }

    /// <summary>
    /// The password in a password file: its first line, without the line end (as nginx's
    /// <c>ssl_password_file</c> and <c>openssl -passin file:</c> read it).
    /// </summary>
    public static string PasswordOf(string fileText)
    {
        var end = fileText.AsSpan().IndexOfAny('\r', '\n');
        return end < 0 ? fileText : fileText[..end];
    }

    /// <summary>Every certificate in <paramref name="pem"/>; null with <paramref name="error"/> when it holds none or a malformed one.</summary>
    /// <param name="pem">The file's text.</param>
    /// <param name="file">What the file is, for the error ("CA file").</param>
    /// <param name="error">Why nothing was loaded.</param>
    public static X509Certificate2Collection? LoadBundle(string pem, string file, out string? error)
    {
        error = null;
        var all = new X509Certificate2Collection();
        try
        {
            all.ImportFromPem(pem);
        }
        catch (CryptographicException e)
        {
            error = $"the {file} holds a malformed PEM certificate ({e.Message}).";
            return null;
        }
        if (all.Count == 0)
        {
            error = $"the {file} holds no PEM certificate (-----BEGIN CERTIFICATE-----).";
            return null;
        }
        return all;
    }
}
